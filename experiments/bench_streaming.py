"""Peak memory of a run over a folder of images, streamed or held in memory, as the folder doubles.

    python experiments/bench_streaming.py                  # 4,000 and 8,000 images, 48 x 48 RGB
    python experiments/bench_streaming.py --images 1000 --size 32

Writes two image folders (``--images`` and twice as many PNGs, three classes), then runs
``python -m evoprune data=image_folder ... debug=smoke`` on each in a fresh process, once as
shipped (every split streamed from disk, batch by batch) and once with the same images read
into memory first (the in-memory ``Split`` path, :func:`load_in_memory`). Each process reports
its own peak resident memory (``ru_maxrss``) and wall time. Evaluation reads batches of 256
(``evaluator.batch_size``), 30 % of the images are the test split and 40 % of the rest
validation, so that every batch is full at both sizes: activations follow the batch, and a
half-empty batch at the smaller size would hide the data's growth behind the batch's. Prints
one JSON object:
``runs`` (one row per folder size and path) and, per path, ``growth``: peak memory at twice the
images over peak memory at the first size (the streamed path's target: at most 1.10).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import runpy
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def write_folder(root: Path, images: int, size: int, seed: int = 0) -> Path:
    """``images`` RGB PNGs in three class folders; a class shows in the mean brightness."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for index in range(images):
        label = index % 3
        folder = root / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.clip(rng.normal(60 + 60 * label, 40, (size, size, 3)), 0, 255)
        Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{index}.png")
    return root


def load_in_memory(root: str, seed: int = 0, **settings):
    """The image folder read whole into in-memory splits: the path to compare against."""
    import dataclasses

    from evoprune.data import load_image_folder

    data = load_image_folder(root=root, seed=seed, **settings)
    return dataclasses.replace(data, train=data.train.in_memory(), val=data.val.in_memory(),
                               test=data.test.in_memory())


def child(arguments: list[str]) -> None:
    """Run evoprune in this process, then print its wall time and peak memory."""
    started = time.perf_counter()
    sys.argv = ["evoprune", *arguments]
    try:
        runpy.run_module("evoprune", run_name="__main__")
    except SystemExit as done:
        if done.code not in (0, None):
            raise
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"peak_mib": round(peak_kib / 1024, 1),
                      "seconds": round(time.perf_counter() - started, 1)}))


def run(root: Path, path: str, work: Path) -> dict:
    # every evaluation batch full at both sizes: what grows is the data alone
    fractions = {"val_fraction": 0.4, "test_fraction": 0.3}
    data = (["data=image_folder", f"data.root={root}",
             *(f"data.{key}={value}" for key, value in fractions.items())]
            if path == "streamed" else
            ["data=custom", "data._target_=bench_streaming.load_in_memory", f"+data.root={root}",
             *(f"+data.{key}={value}" for key, value in fractions.items())])
    arguments = [*data, "model=cnn2d", "evaluator.batch_size=256", "debug=smoke", "logger=none",
                 "progress=false", "baselines=[uniform_magnitude]",
                 f"cache_dir={work / 'cache'}", f"hydra.run.dir={work / 'runs' / path / root.name}"]
    environment = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}"
                   f"{os.environ.get('PYTHONPATH', '')}", "WANDB_MODE": "disabled"}
    result = subprocess.run([sys.executable, __file__, "--child", *arguments], env=environment,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{path} run on {root} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--size", type=int, default=48)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        roots = [write_folder(work / f"images_{n}", n, args.size)
                 for n in (args.images, 2 * args.images)]
        rows = []
        for path in ("streamed", "in_memory"):
            for root, images in zip(roots, (args.images, 2 * args.images)):
                rows.append({"path": path, "images": images, **run(root, path, work)})
        growth = {path: round(rows[2 * i + 1]["peak_mib"] / rows[2 * i]["peak_mib"], 3)
                  for i, path in enumerate(("streamed", "in_memory"))}
    print(json.dumps({"image_size": args.size, "runs": rows, "growth": growth}, indent=1))


if __name__ == "__main__":
    main()
