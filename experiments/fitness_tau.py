"""Which cheap score predicts a mask's accuracy after a long fine-tune?

    python experiments/fitness_tau.py                          # cnn1d on MNIST-1D, seeds 0 1 2
    python experiments/fitness_tau.py --seeds 0 --masks 8 --budgets 0.1 --out /tmp/tau

For each seed and budget, the candidates a search actually meets are collected: every distinct
feasible mask a GA run and a 128-sample random search score (both scored by the plain score,
so that no predictor below chose them). ``--masks`` of them are taken evenly along their score
ranking (the best one always). Each mask is then given every predictor and every oracle:

Predictors (what a search could maximise), each with its seconds per mask:

- ``score``: validation accuracy right after pruning, BatchNorm recalibrated
  (``proxy.epochs=0``; the ``constrained`` fitness of a feasible mask);
- ``proxy``: validation accuracy after a one-epoch fine-tune (``proxy.epochs=1``, the default);
- ``proxy3``: the same after ``--more-epochs`` epochs (more proxy steps);
- ``proxy_lr``: one epoch at ``--lr-factor`` times the fine-tune learning rate;
- ``curve``: the first ``--curve-epochs`` epochs of the oracle's own fine-tune, validation
  accuracy after each, extrapolated to its last epoch by a least-squares fit of
  ``a + b log(epoch)`` (learning-curve extrapolation); its cost is those epochs' seconds;
- ``gradnorm``: the squared norm of the loss gradient of the pruned network over
  ``--grad-batches`` training batches (a trainability measure: how much signal the first
  steps of fine-tuning get; GraSP's gradient flow);
- ``promote25``, ``promote10``: the two-fidelity score of a search with ``proxy.promote``
  0.25 and 0.1 (``evoprune.search.fidelity``), the masks raced as one step: the best share
  by ``score`` get ``proxy``, the others the proxy score their ``score`` predicts, capped by
  the lowest winner's; their cost is ``proxy``'s times the share promoted. Derived from the
  figures above, so ``--report`` adds them to an older tau.json.

Oracles: validation accuracy after the full fine-tune of ``--oracle-epochs`` epochs each (the
finetune recipe, its cosine schedule over each length): what the search should maximise.

Reported per budget and oracle length (means over seeds): Kendall's tau of each predictor
against the oracle, the oracle accuracy of the mask each predictor ranks first (what a search
maximising it would pick among these masks) and of the best mask (the upper bound). Writes
``tau.json`` (every mask's figures too), ``tau.md`` and ``tau.png`` (τ against the oracle's
length) into ``--out`` and prints the tables; ``--report`` rewrites the last two from tau.json.
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
from evoprune.evaluate.evaluator import Evaluator, Objectives
from evoprune.evaluate.fitness import constrained
from evoprune.finish.measure import pruned_for_finetuning
from evoprune.pruning import make_space
from evoprune.search.fidelity import Promotion
from evoprune.search.ga import GeneticSearch
from evoprune.search.loop import run_search
from evoprune.search.random_search import RandomSearch
from evoprune.training.dense import dense_cache_key, load_or_train_dense
from evoprune.training.train import TrainConfig, score, train_classifier

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")
PREDICTORS = ("score", "proxy", "proxy3", "proxy_lr", "curve", "gradnorm", "promote25",
              "promote10")
PROMOTED = {"promote25": 0.25, "promote10": 0.1}  # the two-fidelity predictors' shares


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.5, 0.25, 0.1, 0.05])
    parser.add_argument("--masks", type=int, default=16, help="candidates per seed and budget")
    parser.add_argument("--oracle-epochs", type=int, nargs="+", default=[5, 20, 40],
                        help="fine-tune lengths whose accuracy the predictors should rank")
    parser.add_argument("--more-epochs", type=int, default=3, help="proxy3's epochs")
    parser.add_argument("--lr-factor", type=float, default=10.0, help="proxy_lr's lr factor")
    parser.add_argument("--curve-epochs", type=int, default=3,
                        help="epochs of the oracle's fine-tune the curve extrapolates")
    parser.add_argument("--grad-batches", type=int, default=4, help="gradnorm's batches")
    parser.add_argument("--override", nargs="*", default=[], help="config overrides")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "fitness_tau")
    parser.add_argument("--report", action="store_true",
                        help="measure nothing: rewrite tau.md and tau.png from --out's tau.json")
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
    torch.set_num_threads(max(int(config["threads"]), 1))
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


def finetuned(dense, space, mask, evaluator, data, recipe: TrainConfig, seed: int,
              record: int = 0) -> tuple[float, list[float], float]:
    """Validation accuracy of ``mask`` after ``recipe``; the accuracy after each of its first
    ``record`` epochs and the seconds those epochs took (all of it with ``record=0``)."""
    model, hold = pruned_for_finetuning(dense, space, mask, evaluator.calibration_batches)
    steps_per_epoch = -(-len(data.train) // recipe.batch_size)
    steps, curve, started = 0, [], time.perf_counter()
    curve_s = [0.0]

    def after_step():
        nonlocal steps
        if hold is not None:
            hold()
        steps += 1
        if steps % steps_per_epoch == 0 and len(curve) < record:
            curve.append(score(model, data.val))  # restores train mode itself
            curve_s[0] = time.perf_counter() - started

    train_classifier(model, data.train, recipe, seed=seed, progress=False, after_step=after_step)
    value = score(model, data.val)
    return value, curve, curve_s[0] if record else time.perf_counter() - started


def extrapolate(curve: list[float], epochs: int) -> float:
    """``a + b log(t)`` fitted to the accuracies after epochs 1..k, read at ``epochs``."""
    t = np.log(np.arange(1, len(curve) + 1))
    slope, intercept = np.polyfit(t, np.asarray(curve), 1)
    return float(intercept + slope * np.log(epochs))


def gradient_norm(dense, space, mask, evaluator, data, batch_size: int, batches: int,
                  seed: int) -> float:
    """Squared norm of the training loss's gradient of ``mask``'s pruned network, BatchNorm
    in training mode as in the first fine-tuning step, summed over ``batches`` seeded batches."""
    model, _ = pruned_for_finetuning(dense, space, mask, evaluator.calibration_batches)
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(seed))
    model.train()
    total = 0.0
    for i in range(batches):
        index = order[i * batch_size:(i + 1) * batch_size]
        model.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(data.train.x[index]),
                                          data.train.y[index]).backward()
        total += sum(float(p.grad.pow(2).sum()) for p in model.parameters() if p.grad is not None)
    model.eval()
    return total / batches


def measure(args) -> list[dict]:
    rows = []
    for seed in args.seeds:
        config, data, model, space, evaluator = problem(seed, args.override)
        recipe = dict(config["finetune"])
        one = TrainConfig(**{**recipe, "epochs": 1})
        more = TrainConfig(**{**recipe, "epochs": args.more_epochs})
        hot = TrainConfig(**{**recipe, "epochs": 1, "lr": recipe["lr"] * args.lr_factor})
        for budget in args.budgets:
            start = time.perf_counter()
            chosen = candidates(space, evaluator, budget, seed, args.masks)
            search_s = time.perf_counter() - start
            figures: dict[str, list] = {"macs_ratio": [], "score": []}
            for mask, found in chosen:
                figures["macs_ratio"].append(found.macs_ratio)
                figures["score"].append(found.val_acc)
                for name, recipe_of in (("proxy", one), ("proxy3", more), ("proxy_lr", hot)):
                    value, _, seconds = finetuned(model, space, mask, evaluator, data,
                                                  recipe_of, seed)
                    figures.setdefault(name, []).append(value)
                    figures.setdefault(f"{name}_s", []).append(seconds)
                started = time.perf_counter()
                figures.setdefault("gradnorm", []).append(gradient_norm(
                    model, space, mask, evaluator, data, recipe["batch_size"],
                    args.grad_batches, seed))
                figures.setdefault("gradnorm_s", []).append(time.perf_counter() - started)
                for epochs in args.oracle_epochs:
                    full = TrainConfig(**{**recipe, "epochs": epochs})
                    started = time.perf_counter()
                    value, curve, curve_s = finetuned(model, space, mask, evaluator, data,
                                                      full, seed, record=args.curve_epochs)
                    figures.setdefault(f"oracle{epochs}", []).append(value)
                    figures.setdefault(f"oracle{epochs}_s", []).append(
                        time.perf_counter() - started)
                    figures.setdefault(f"curve{epochs}", []).append(extrapolate(curve, epochs))
                    figures.setdefault(f"curve{epochs}_s", []).append(curve_s)
            row = summarise(seed, budget, figures, args.oracle_epochs, search_s)
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "figures"}), flush=True)
    return rows


def predictor(figures: dict, name: str, epochs: int) -> np.ndarray:
    """The predictor's values per mask (the curve's extrapolation to ``epochs``)."""
    return np.asarray(figures[f"curve{epochs}" if name == "curve" else name])


def add_promoted(figures: dict) -> None:
    """The two-fidelity predictors' values and seconds per mask, from ``score`` and
    ``proxy`` (the masks raced as one search step)."""
    proxy = dict(enumerate(figures["proxy"]))
    cheap = [Objectives(val_acc=value, macs=0, params=0, macs_ratio=ratio)
             for value, ratio in zip(figures["score"], figures["macs_ratio"])]
    masks = [np.array([index]) for index in range(len(cheap))]
    for name, share in PROMOTED.items():
        stage = Promotion(lambda mask: proxy[int(mask[0])], share, key=lambda m: m.tobytes())
        graded = stage.score(masks, cheap, rank=lambda objectives: objectives.val_acc)
        figures[name] = [objectives.val_acc for objectives, _ in graded]
        figures[f"{name}_s"] = [seconds if promoted else 0.0 for (_, promoted), seconds
                                in zip(graded, figures["proxy_s"])]


def summarise(seed, budget, figures, oracle_epochs, search_s):
    add_promoted(figures)
    row = {"seed": seed, "budget": budget, "masks": len(figures["score"]), "search_s": search_s}
    for epochs in oracle_epochs:
        oracle = np.asarray(figures[f"oracle{epochs}"])
        row[f"best_{epochs}"] = float(oracle.max())
        row[f"median_{epochs}"] = float(np.median(oracle))
        for name in PREDICTORS:
            values = predictor(figures, name, epochs)
            row[f"tau_{name}_{epochs}"] = float(stats.kendalltau(values, oracle).statistic)
            row[f"pick_{name}_{epochs}"] = float(oracle[int(np.argmax(values))])
    for name in PREDICTORS[1:]:
        key = f"curve{max(oracle_epochs)}_s" if name == "curve" else f"{name}_s"
        row[f"{name}_s"] = float(np.mean(figures[key]))
    for epochs in oracle_epochs:
        row[f"oracle{epochs}_s"] = float(np.mean(figures[f"oracle{epochs}_s"]))
    row["figures"] = figures
    return row


def mean(rows, key) -> float:
    return float(np.mean([r[key] for r in rows]))


def tables(rows: list[dict], oracle_epochs: list[int]) -> str:
    """Markdown: τ and the pick's oracle accuracy per budget and oracle length, then costs.
    Means over seeds."""
    budgets = sorted({r["budget"] for r in rows}, reverse=True)
    names = " | ".join(PREDICTORS)
    out = ["### Kendall's τ against the oracle (mean over seeds)", "",
           f"| budget | oracle epochs | {names} |",
           "| ---: | ---: |" + " ---: |" * len(PREDICTORS)]
    for budget in budgets:
        group = [r for r in rows if r["budget"] == budget]
        for epochs in oracle_epochs:
            cells = [f"{mean(group, f'tau_{n}_{epochs}'):+.3f}" for n in PREDICTORS]
            out.append(f"| {budget:g} | {epochs} | " + " | ".join(cells) + " |")
    out += ["", "### Oracle accuracy of the mask each predictor ranks first (mean over seeds)", "",
            f"| budget | oracle epochs | {names} | best | median |",
            "| ---: | ---: |" + " ---: |" * (len(PREDICTORS) + 2)]
    for budget in budgets:
        group = [r for r in rows if r["budget"] == budget]
        for epochs in oracle_epochs:
            cells = [f"{mean(group, f'pick_{n}_{epochs}'):.4f}" for n in PREDICTORS]
            cells += [f"{mean(group, f'{k}_{epochs}'):.4f}" for k in ("best", "median")]
            out.append(f"| {budget:g} | {epochs} | " + " | ".join(cells) + " |")
    out += ["", "### Each predictor against the plain score, over every seed and budget", "",
            "Paired by seed and budget: the difference in τ, and in the oracle accuracy of the "
            "mask each ranks first (points); mean, paired t-test p.", "",
            "| oracle epochs | predictor | τ − τ score | p | pick − score's pick | p |",
            "| ---: | --- | ---: | ---: | ---: | ---: |"]
    for epochs in oracle_epochs:
        for name in PREDICTORS[1:]:
            cells = []
            for key, scale, fmt in (("tau", 1, "+.3f"), ("pick", 100, "+.2f")):
                gaps = np.array([r[f"{key}_{name}_{epochs}"] - r[f"{key}_score_{epochs}"]
                                 for r in rows]) * scale
                cells += [format(float(gaps.mean()), fmt),
                          f"{stats.ttest_1samp(gaps, 0).pvalue:.3f}" if len(gaps) > 1 else "–"]
            out.append(f"| {epochs} | {name} | " + " | ".join(cells) + " |")
    costs = list(PREDICTORS[1:]) + [f"oracle{e}" for e in oracle_epochs]
    out += ["", "### Seconds per mask (mean over seeds; score is free: it is the search's own "
            "evaluation)", "", "| budget | masks | " + " | ".join(costs) + " |",
            "| ---: | ---: |" + " ---: |" * len(costs)]
    for budget in budgets:
        group = [r for r in rows if r["budget"] == budget]
        cells = [f"{mean(group, f'{n}_s'):.2f}" for n in costs]
        out.append(f"| {budget:g} | {mean(group, 'masks'):.0f} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def plot(rows: list[dict], oracle_epochs: list[int], path: Path) -> None:
    """τ of each predictor against the oracle's fine-tune length, one panel per budget (mean
    over seeds, bars: the seeds' min and max)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    budgets = sorted({r["budget"] for r in rows}, reverse=True)
    figure = Figure(figsize=(3.2 * len(budgets), 3.4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(budgets), sharey=True, squeeze=False)[0]
    for ax, budget in zip(axes, budgets):
        group = [r for r in rows if r["budget"] == budget]
        for offset, name in enumerate(PREDICTORS):
            values = np.array([[r[f"tau_{name}_{e}"] for e in oracle_epochs] for r in group])
            x = np.arange(len(oracle_epochs)) + (offset - len(PREDICTORS) / 2) * 0.06
            centre = values.mean(axis=0)
            ax.errorbar(x, centre, yerr=[centre - values.min(axis=0), values.max(axis=0) - centre],
                        marker="o", markersize=3, capsize=2, linewidth=1, label=name)
        ax.axhline(0, color="0.6", linewidth=0.8)
        ax.set_xticks(range(len(oracle_epochs)), [str(e) for e in oracle_epochs])
        ax.set_title(f"budget {budget:g}")
        ax.set_xlabel("oracle: fine-tune epochs")
    axes[0].set_ylabel("Kendall's τ with the oracle")
    axes[-1].legend(fontsize="small")
    figure.savefig(path, dpi=120)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.report:
        saved = json.loads((args.out / "tau.json").read_text())
        args.oracle_epochs = sorted({int(k.split("_")[-1]) for k in saved["rows"][0]
                                     if k.startswith("best_")})
        rows = [summarise(row["seed"], row["budget"], row["figures"], args.oracle_epochs,
                          row["search_s"]) for row in saved["rows"]]
    else:
        rows = measure(args)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "tau.json").write_text(json.dumps({"args": {k: str(v) for k, v in
                                                                vars(args).items()},
                                                       "rows": rows}, indent=1) + "\n")
    text = tables(rows, args.oracle_epochs)
    (args.out / "tau.md").write_text(text)
    plot(rows, args.oracle_epochs, args.out / "tau.png")
    print(text)


if __name__ == "__main__":
    main()
