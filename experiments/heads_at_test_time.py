"""How many attention heads can go at test time? Michel et al. (NeurIPS 2019) found most of a
trained transformer's heads removable without retraining. Here: the dense `model=transformer`
of each seed (trained, or loaded from the run cache), its heads removed one at a time in
`head_importance` order (the gradient at a gate on each head, on 4 training batches), the MLPs
kept whole, test accuracy with no fine-tuning.

    python experiments/heads_at_test_time.py --seeds 0 1 2 3 4 > heads_at_test_time.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from evoprune.config.targets import make_data, make_model, make_task
from evoprune.pruning import make_space
from evoprune.pruning.compact import compact
from evoprune.pruning.importance import gate_scores
from evoprune.training.dense import dense_cache_key, load_or_train_dense
from evoprune.training.train import TrainConfig, score

CONF = Path(__file__).resolve().parents[1] / "conf"


def heads_removed(seed: int, cache_dir: Path) -> list[float]:
    """Test accuracy with 0, 1, ... (all but one per layer) heads removed, weakest first."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["model=transformer", f"seed={seed}",
                                                       "threads=1"])
    config = OmegaConf.to_container(cfg, resolve=True)
    torch.set_num_threads(1)
    data = make_data(config["data"], seed, make_task(config["task"]))
    model = make_model(config["model"], data.input_shape, data.num_classes)
    key = dense_cache_key(config["data"], config["model"], config["train"], seed,
                          device=torch.device("cpu"), threads=1, task=config["task"])
    model, _ = load_or_train_dense(model, data, TrainConfig(**config["train"]), seed=seed,
                                   cache_dir=cache_dir, cache_key=key, progress=False)
    space = make_space(model, data.train.inputs(2), **config["pruning"])
    scores = gate_scores(model, space, data.train)
    heads = [g for g in space.groups if g.kind == "head"]
    order = sorted((scores[g.offset + h] / np.sqrt(np.mean(scores[space.group_slice(g)] ** 2)),
                     g.offset + h) for g in heads for h in range(g.size))
    mask = space.full_mask()
    accuracies = [score(model.eval(), data.test)]
    for _, unit in order:
        mask[unit] = False
        if any(not mask[space.group_slice(g)].any() for g in heads):
            break  # every layer keeps a head
        accuracies.append(score(compact(model, space, mask).eval(), data.test))
    return accuracies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--cache-dir", type=Path, default=Path("~/.cache/evoprune").expanduser())
    args = parser.parse_args()
    rows = [heads_removed(seed, args.cache_dir) for seed in args.seeds]
    removed = min(len(r) for r in rows)
    table = np.array([r[:removed] for r in rows]) * 100
    print("| heads removed (of 12) | " + " | ".join(f"seed {s}" for s in args.seeds)
          + " | mean | mean drop |")
    print("| ---: |" + " ---: |" * (len(args.seeds) + 2))
    for k in range(removed):
        cells = " | ".join(f"{v:.2f}" for v in table[:, k])
        drop = (table[:, 0] - table[:, k]).mean()
        print(f"| {k} | {cells} | {table[:, k].mean():.2f} | {drop:.2f} |")


if __name__ == "__main__":
    main()
