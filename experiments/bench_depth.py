"""Latency of depth against width: ResNet-56 pruned to the same MACs by removing whole blocks
or by removing channels, on the device this runs on.

    python experiments/bench_depth.py                      # ResNet-56 on 32 x 32 images
    python experiments/bench_depth.py --device cpu --budgets 0.8 0.6 --batch-size 32

Prints one JSON object. For each budget, three compacted models of the same (untrained,
seeded) ResNet are timed in this process, interleaved so that a busy machine slows them alike:
``block_magnitude`` (whole blocks removed, channels kept), ``uniform_magnitude`` (the same
share of channels in every group, blocks kept) and the dense model. Each row gives the MACs
ratio the mask reaches and the median milliseconds of one forward pass of ``--batch-size``
images. Latency depends on shapes, not on weights, so no training is needed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from evoprune.baselines.registry import BaselineContext, prune  # noqa: E402
from evoprune.evaluate.latency import measure_latency_ms  # noqa: E402
from evoprune.infra.device import resolve_device  # noqa: E402
from evoprune.models import ResNet  # noqa: E402
from evoprune.pruning.compact import compact  # noqa: E402
from evoprune.pruning.space import PruningSpace  # noqa: E402

METHODS = ("block_magnitude", "uniform_magnitude")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--blocks", type=int, default=9, help="blocks per stage: 9 = ResNet-56")
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.75, 0.5])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    parser.add_argument("--threads", type=int, default=1, help="torch threads while timing")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    model = ResNet((3, 32, 32), 10, blocks_per_stage=args.blocks).to(device).eval()
    example = torch.randn(2, 3, 32, 32, device=device)
    inputs = torch.randn(args.batch_size, 3, 32, 32, device=device)
    space = PruningSpace(model, example, granularity="both")
    rows = []
    for budget in args.budgets:
        context = BaselineContext(model=model, space=space, data=None, budget=budget, seed=0)
        masks = {name: prune(name, context).mask for name in METHODS}
        models = {"dense": model, **{name: compact(model, space, mask).eval()
                                     for name, mask in masks.items()}}
        timings = {name: [] for name in models}
        for _ in range(args.rounds):  # interleaved: drift on a shared machine hits all alike
            for name, candidate in models.items():
                timings[name].append(measure_latency_ms(
                    candidate, inputs, repeats=args.repeats, threads=args.threads))
        median = {name: sorted(times)[len(times) // 2] for name, times in timings.items()}
        for name in METHODS:
            rows.append({
                "budget": budget, "method": name,
                "macs_ratio": round(float(space.macs_ratio(masks[name])), 4),
                "blocks_removed": len(space.removed_blocks(masks[name])),
                "latency_ms": round(median[name], 3),
                "latency_ratio": round(median[name] / median["dense"], 3),
            })
    result = {"model": f"ResNet-{6 * args.blocks + 2}", "device": str(device),
              "batch_size": args.batch_size, "threads": args.threads,
              "removable_blocks": len(space.block_names), "rows": rows}
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
