"""How well does a search's score predict accuracy after fine-tuning?

    python experiments/fitness_tau.py                         # cnn1d on MNIST-1D, seeds 0 1 2
    python experiments/fitness_tau.py --seeds 0 --masks 24 --out /tmp/tau

For each seed and budget, the candidates a search actually meets are collected: every distinct
feasible mask a default GA run and a 128-sample random search score. ``--masks`` of them are
taken evenly along their score ranking (the best one always), and each is then

- scored as the search scores it: validation accuracy of the pruned model with BatchNorm
  recalibrated (the ``constrained`` fitness equals it for a feasible mask);
- given a short fine-tune and its validation accuracy measured (NetAdapt's proxy), two ways:
  one epoch on the first ``--proxy-samples`` training samples (``proxy``), and one epoch on
  all of them (``epoch``);
- given the full fine-tune every method gets (``finetune``, 5 epochs) and its validation
  accuracy measured: the oracle, what the search should have maximised.

Reported per budget (mean over seeds): Kendall's tau of score, proxy and epoch against the
oracle; the oracle accuracy of the mask the score ranks first, of the best of the top
``--top-k`` by score re-ranked by proxy, by epoch, and by the oracle itself (a full fine-tune
of each finalist), and the best oracle accuracy among all candidates (the upper bound of
selecting among them); and the seconds each costs per mask. Writes ``tau.json`` (every mask's
figures too) and ``tau.md`` into ``--out`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from scipy import stats

from evoprune.config.targets import make_data, make_model
from evoprune.data.splits import Split
from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.fitness import constrained
from evoprune.finish.select import accuracy_after_finetuning
from evoprune.pruning import make_space
from evoprune.search.ga import GeneticSearch
from evoprune.search.loop import run_search
from evoprune.search.random_search import RandomSearch
from evoprune.training.dense import dense_cache_key, load_or_train_dense
from evoprune.training.train import TrainConfig

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.5, 0.25, 0.1, 0.05])
    parser.add_argument("--masks", type=int, default=32, help="candidates per seed and budget")
    parser.add_argument("--proxy-samples", type=int, default=640,
                        help="training samples of the one-epoch proxy fine-tune")
    parser.add_argument("--top-k", type=int, default=8, help="candidates the proxy re-ranks")
    parser.add_argument("--override", nargs="*", default=[], help="config overrides")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "fitness_tau")
    return parser.parse_args(argv)


class Recording:
    """An evaluator that remembers every distinct mask it scored, with its objectives."""

    def __init__(self, evaluator: Evaluator) -> None:
        self._evaluator, self.seen = evaluator, {}

    def evaluate(self, masks):
        objectives = self._evaluator.evaluate(masks)
        for mask, found in zip(masks, objectives):
            self.seen.setdefault(np.asarray(mask, dtype=bool).tobytes(), (mask, found))
        return objectives

    def __getattr__(self, name):
        return getattr(self._evaluator, name)


def problem(seed: int, overrides: list[str]):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"seed={seed}", *overrides])
    config = OmegaConf.to_container(cfg, resolve=True)
    data = make_data(config["data"], seed)
    model, _ = load_or_train_dense(
        make_model(config["model"], data.input_shape, data.num_classes), data,
        TrainConfig(**config["train"]), seed=seed, cache_dir=Path(cfg.cache_dir).expanduser(),
        cache_key=dense_cache_key(config["data"], config["model"], config["train"], seed,
                                  device="cpu", threads=torch.get_num_threads()),
        progress=False)
    space = make_space(model, data.train.x[:2], **config["pruning"])
    evaluator = Evaluator(model, space, data.val, calibration=data.train,
                          **{k: v for k, v in config["evaluator"].items()
                             if k not in ("backend", "workers", "ray_address", "worker_threads")})
    return config, data, model, space, evaluator


def candidates(space, evaluator, budget: float, seed: int, count: int):
    """``count`` distinct feasible masks a search meets, evenly along their score ranking."""
    recording = Recording(evaluator)
    run_search(GeneticSearch(seed=seed), space, recording, constrained, budget)
    run_search(RandomSearch(samples=128, seed=seed), space, recording, constrained, budget)
    feasible = sorted((found.val_acc, key) for key, (_, found) in recording.seen.items()
                      if found.macs_ratio <= budget)
    picks = np.unique(np.linspace(0, len(feasible) - 1, min(count, len(feasible))).round())
    return [recording.seen[feasible[int(i)][1]] for i in picks]


def val_after_finetune(model, space, mask, evaluator, train: Split, data, cfg: TrainConfig,
                       seed: int) -> tuple[float, float]:
    """Validation accuracy of ``mask`` after fine-tuning on ``train``, and the seconds it took."""
    start = time.perf_counter()
    value = accuracy_after_finetuning(model, space, mask, evaluator.calibration_batches, train,
                                      data.val, cfg, seed=seed)
    return value, time.perf_counter() - start


def measure(args) -> list[dict]:
    rows = []
    for seed in args.seeds:
        config, data, model, space, evaluator = problem(seed, args.override)
        full = TrainConfig(**config["finetune"])
        short = TrainConfig(**{**config["finetune"], "epochs": 1})
        subset = Split(data.train.x[: args.proxy_samples], data.train.y[: args.proxy_samples])
        for budget in args.budgets:
            start = time.perf_counter()
            chosen = candidates(space, evaluator, budget, seed, args.masks)
            search_s = time.perf_counter() - start
            figures = {key: [] for key in ("score", "proxy", "epoch", "oracle", "proxy_s",
                                           "epoch_s", "oracle_s", "macs_ratio")}
            for mask, found in chosen:
                figures["score"].append(found.val_acc)
                figures["macs_ratio"].append(found.macs_ratio)
                for key, train, recipe in (("proxy", subset, short), ("epoch", data.train, short),
                                           ("oracle", data.train, full)):
                    value, seconds = val_after_finetune(model, space, mask, evaluator, train,
                                                        data, recipe, seed)
                    figures[key].append(value)
                    figures[f"{key}_s"].append(seconds)
            rows.append(summarise(seed, budget, figures, args.top_k, search_s))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "figures"}), flush=True)
    return rows


def summarise(seed, budget, figures, top_k, search_s):
    score, proxy, epoch, oracle = (np.asarray(figures[k])
                                   for k in ("score", "proxy", "epoch", "oracle"))
    top = np.argsort(-score, kind="stable")[:top_k]

    def two_stage(ranking):
        return float(oracle[top[int(np.argmax(ranking[top]))]])

    return {
        "seed": seed, "budget": budget, "masks": int(len(score)),
        "tau_score": float(stats.kendalltau(score, oracle).statistic),
        "tau_proxy": float(stats.kendalltau(proxy, oracle).statistic),
        "tau_epoch": float(stats.kendalltau(epoch, oracle).statistic),
        "oracle_of_top_score": float(oracle[int(np.argmax(score))]),
        "oracle_of_top_k_by_proxy": two_stage(proxy),
        "oracle_of_top_k_by_epoch": two_stage(epoch),
        "oracle_of_top_k_by_oracle": two_stage(oracle),
        "oracle_best": float(oracle.max()),
        "oracle_median": float(np.median(oracle)),
        "search_s": search_s,
        **{f"{key}_s_per_mask": float(np.mean(figures[f"{key}_s"]))
           for key in ("proxy", "epoch", "oracle")},
        "figures": figures,
    }


COLUMNS = [("τ score", "tau_score", "+.3f"), ("τ proxy", "tau_proxy", "+.3f"),
           ("τ epoch", "tau_epoch", "+.3f"), ("top score", "oracle_of_top_score", ".4f"),
           ("top-k by proxy", "oracle_of_top_k_by_proxy", ".4f"),
           ("top-k by epoch", "oracle_of_top_k_by_epoch", ".4f"),
           ("top-k by full FT", "oracle_of_top_k_by_oracle", ".4f"),
           ("best of all", "oracle_best", ".4f"), ("median", "oracle_median", ".4f"),
           ("proxy s", "proxy_s_per_mask", ".2f"), ("epoch s", "epoch_s_per_mask", ".2f"),
           ("full FT s", "oracle_s_per_mask", ".2f")]


def table(rows: list[dict], top_k: int) -> str:
    """Means over seeds per budget; the accuracies are validation accuracy after the full
    fine-tune of the mask each rule picks."""
    header = ["budget", "seeds", "masks"] + [name.replace("top-k", f"top-{top_k}")
                                             for name, _, _ in COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---:"] * len(header)) + " |"]
    for budget in sorted({r["budget"] for r in rows}, reverse=True):
        group = [r for r in rows if r["budget"] == budget]
        cells = [f"{budget:g}", str(len(group)), f"{np.mean([r['masks'] for r in group]):.0f}"]
        cells += [format(float(np.mean([r[key] for r in group])), fmt) for _, key, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    args = parse_args(argv)
    rows = measure(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tau.json").write_text(json.dumps({"args": {k: str(v) for k, v in
                                                            vars(args).items()},
                                                   "rows": rows}, indent=1) + "\n")
    text = table(rows, args.top_k)
    (args.out / "tau.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
