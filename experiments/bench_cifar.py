"""Throughput of ResNet-56 on CIFAR-shaped inputs, on the device this runs on.

    python experiments/bench_cifar.py                    # ResNet-56, device=auto
    python experiments/bench_cifar.py --device cpu --blocks 3 --train-steps 5

Prints one JSON object, every figure measured in this process on random 32 x 32 images (the
arithmetic does not depend on the pixels; no data files are needed):

- ``train_images_per_s``: SGD steps (batch ``--batch-size``, random crop and flip on the
  device) of the dense model, after a warm-up step;
- ``scored_candidates_per_s``, for each evaluator mode in ``--modes``: the evaluator scoring
  ``--population`` distinct random masks at ``--budget`` on ``--samples`` validation images
  each (BatchNorm statistics re-estimated on one batch, as the default run does), candidates
  per second; ``batched`` runs ``--batch-candidates`` masks per vmapped forward pass;
- ``ga_20x32_minutes``: what 20 generations of 32 candidates (640 scorings, the default GA)
  would take at each mode's rate, with candidates scored right after pruning
  (``proxy.epochs=0``);
- ``proxy_s_per_candidate``: one promoted candidate's brief fine-tune sized in steps
  (``proxy.steps=--proxy-steps``: that many SGD steps on ``--batch-size`` images, BatchNorm
  statistics re-estimated, then scored on ``--samples`` images), the mean over two masks;
- ``ga_20x32_minutes_promoted``: the same 640 scorings with the best ``--promote`` share
  given that brief fine-tune (``proxy.promote``), at the fastest mode's rate: an upper
  bound, since a GA meets fewer than 640 distinct masks;
- ``modes_agree``: every mode gave every mask the same validation accuracy (on a GPU,
  TF32 rounding may flip a near tie between two classes);
- on a GPU, ``peak_memory_mib``: the most memory torch allocated while training and while
  scoring in each mode.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from evoprune.data import Split  # noqa: E402
from evoprune.data.cifar10 import crop_and_flip  # noqa: E402
from evoprune.evaluate.evaluator import Evaluator  # noqa: E402
from evoprune.finish.proxy import proxy_recipe  # noqa: E402
from evoprune.finish.select import accuracy_after_finetuning  # noqa: E402
from evoprune.infra.device import resolve_device, synchronize  # noqa: E402
from evoprune.models import ResNet  # noqa: E402
from evoprune.pruning.budget import fit_to_budget  # noqa: E402
from evoprune.pruning.space import PruningSpace  # noqa: E402
from evoprune.training.train import TrainConfig  # noqa: E402


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--blocks", type=int, default=9, help="blocks per stage: 9 = ResNet-56")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--population", type=int, default=32)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--budget", type=float, default=0.5)
    parser.add_argument("--modes", default="auto,batched",
                        help="evaluator modes to time, comma-separated (auto, sliced, masked, "
                             "batched)")
    parser.add_argument("--batch-candidates", type=int, default=8)
    parser.add_argument("--proxy-steps", type=int, default=20,
                        help="the brief fine-tune's steps per promoted candidate (proxy.steps)")
    parser.add_argument("--promote", type=float, default=0.1,
                        help="the share of candidates promoted to it (proxy.promote)")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    model = ResNet((3, 32, 32), 10, blocks_per_stage=args.blocks).to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch_size, 3, 32, 32)
    labels = torch.randint(0, 10, (args.batch_size,))

    def step() -> None:
        x = crop_and_flip(images.to(device), generator)
        loss = torch.nn.functional.cross_entropy(model(x), labels.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    model.train()
    step()  # warm-up: allocator, kernels
    synchronize(device)
    start = time.perf_counter()
    for _ in range(args.train_steps):
        step()
    synchronize(device)
    train_rate = args.train_steps * args.batch_size / (time.perf_counter() - start)

    model.eval()
    space = PruningSpace(model, images[:2].to(device))
    val = Split(torch.randn(args.samples, 3, 32, 32), torch.randint(0, 10, (args.samples,)))
    calibration = Split(torch.randn(args.batch_size, 3, 32, 32),
                        torch.randint(0, 10, (args.batch_size,)))
    rng = np.random.default_rng(0)
    masks = [fit_to_budget(space, space.repair(rng.random(space.num_units) < 0.6), args.budget)
             for _ in range(args.population)]
    peaks = {"training": _peak_mib(device)}
    rates, scores = {}, {}
    for mode in args.modes.split(","):
        evaluator = Evaluator(model, space, val, calibration=calibration, cache=False,
                              bn_recalibration_batches=1, calibration_batch_size=args.batch_size,
                              val_samples=args.samples, batch_size=args.batch_size, mode=mode,
                              batch_candidates=args.batch_candidates)
        evaluator.evaluate(masks[:2])  # warm-up
        synchronize(device)
        start = time.perf_counter()
        scores[mode] = [o.val_acc for o in evaluator.evaluate(masks)]
        synchronize(device)
        rates[mode] = args.population / (time.perf_counter() - start)
        peaks[mode] = _peak_mib(device)
        del evaluator  # its copies of the data do not count towards the next mode's peak
    proxy_s = _proxy_seconds(model, space, masks[:2], calibration, val, args)
    fastest = max(rates.values())
    result = {
        "device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
        "model": f"ResNet-{6 * args.blocks + 2}", "dense_macs": space.dense_macs,
        "batch_size": args.batch_size, "train_images_per_s": train_rate,
        "population": args.population, "samples": args.samples, "budget": args.budget,
        "batch_candidates": args.batch_candidates, "scored_candidates_per_s": rates,
        "ga_20x32_minutes": {mode: 640 / rate / 60 for mode, rate in rates.items()},
        "proxy_steps": args.proxy_steps, "proxy_s_per_candidate": proxy_s,
        "promote": args.promote,
        "ga_20x32_minutes_promoted": (640 / fastest + 640 * args.promote * proxy_s) / 60,
        "modes_agree": all(found == next(iter(scores.values())) for found in scores.values()),
    }
    if device.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name(device)
        result["peak_memory_mib"] = peaks
    print(json.dumps(result, indent=1))
    return result


def _proxy_seconds(model, space, masks, calibration, val, args) -> float:
    """Seconds of one candidate's brief fine-tune of ``--proxy-steps`` steps (the run's own
    code path: pruned copy, training with the mask held, scoring), mean over ``masks``."""
    recipe, samples = proxy_recipe(TrainConfig(epochs=1, lr=0.01, batch_size=args.batch_size,
                                               optimizer="sgd"), 1, args.proxy_steps, None)
    train = Split(torch.randn(samples, 3, 32, 32), torch.randint(0, 10, (samples,)))
    device = next(model.parameters()).device
    batches = [calibration.x.to(device)]
    synchronize(device)
    start = time.perf_counter()
    for mask in masks:
        accuracy_after_finetuning(model, space, mask, batches, train, val, recipe, seed=0,
                                  batch_size=args.batch_size)
    synchronize(device)
    return (time.perf_counter() - start) / len(masks)


def _peak_mib(device: torch.device) -> float | None:
    """The most memory torch allocated on a GPU since the last call (None on a CPU)."""
    if device.type != "cuda":
        return None
    peak = torch.cuda.max_memory_allocated(device) / 2**20
    torch.cuda.reset_peak_memory_stats(device)
    return peak


if __name__ == "__main__":
    main()
