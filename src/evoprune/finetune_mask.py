"""``python -m evoprune.finetune_mask RUN_DIR MASK_FILE [--member I]``: fine-tune any mask of a
run's model with the run's fine-tune recipe, and report it as the run reports every method.

The mask is a ``mask_<method>.json`` of a run, a member of its ``pareto.json`` (``--member I``,
the index in its ``front``), or a file of the same format written by hand. The run directory
gives the resolved config (``checkpoint/config.json``), so the same data, dense model (from the
cache, or trained again the same way), pruning space, evaluator and recipe are used. It prints
the test accuracy before and after fine-tuning, the MACs ratio and parameters, and writes them
to ``finetuned_<mask file>[_member<I>].json`` in the run directory (or ``--out``).

A mistake in the arguments ends with one line ``error: ...`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from omegaconf import OmegaConf

from evoprune.infra.checkpoint import CHECKPOINT_DIR, CONFIG_FILE
from evoprune.infra.errors import UserError
from evoprune.report.results import write_json

USAGE_ERROR = 2


class MaskRequestError(UserError, ValueError):
    """A run directory, mask file or member index that cannot be used (the user's mistake)."""


def run_config(run_dir: Path) -> dict:
    """The resolved config a run recorded when it started."""
    if not run_dir.is_dir():
        raise MaskRequestError(f"run directory {run_dir} does not exist")
    snapshot = run_dir / CHECKPOINT_DIR / CONFIG_FILE
    if not snapshot.is_file():
        raise MaskRequestError(f"{run_dir} holds no {CHECKPOINT_DIR}/{CONFIG_FILE}: pass the "
                               "directory of a run of python -m evoprune (its hydra.run.dir)")
    return _read_json(snapshot, "run config")


def mask_description(path: Path, member: int | None) -> dict:
    """The mask description in ``path``: the file itself (a ``mask_<method>.json``), or with
    ``member`` the ``member``-th entry of a ``pareto.json`` front."""
    data = _read_json(path, "mask file")
    if isinstance(data, dict) and isinstance(data.get("front"), list):
        front = data["front"]
        if member is None:
            raise MaskRequestError(f"{path} is a Pareto front of {len(front)} members: choose "
                                   f"one with --member I, I from 0 to {len(front) - 1}")
        if not 0 <= member < len(front):
            raise MaskRequestError(f"--member {member} is out of range: {path} has "
                                   f"{len(front)} members, 0 to {len(front) - 1}")
        data = front[member].get("mask") if isinstance(front[member], dict) else None
    elif member is not None:
        raise MaskRequestError(f"--member {member} picks a member of a pareto.json front; "
                               f"{path} is a single mask: drop --member")
    if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
        raise MaskRequestError(f"{path} is not a mask file: expected a JSON object with "
                               "'groups' (as mask_<method>.json) or a pareto.json with --member")
    return data


def finetune_mask(run_dir: Path, mask_file: Path, *, member: int | None = None,
                  out: Path | None = None, progress: bool = True) -> dict:
    """Fine-tune the mask of ``mask_file`` (``member`` of a ``pareto.json``) on the model of
    the run in ``run_dir``, with its recipe; write and return its figures (``run_dir``'s
    results row, plus where the mask came from)."""
    # imported here: building the run's pieces pulls in torch and the whole pipeline, which
    # an argument mistake should not wait for
    from evoprune.infra.threads import torch_threads

    config = run_config(run_dir)
    description = mask_description(mask_file, member)
    cfg = OmegaConf.create(config)
    with torch_threads(cfg.threads):  # as the run: the same cached dense model
        row, dense = _finetune(cfg, config, description, run_dir, mask_file, progress)
    results = {"run_dir": str(run_dir), "mask_file": str(mask_file), "member": member,
               "finetune": config["finetune"], "dense": dense, **row}
    if out is None:
        suffix = "" if member is None else f"_member{member}"
        out = run_dir / f"finetuned_{mask_file.stem}{suffix}.json"
    write_json(out, results)
    results["out"] = str(out)
    return results


def _finetune(cfg, config: dict, description: dict, run_dir: Path, mask_file: Path,
              progress: bool) -> tuple[dict, dict]:
    """The run's dense model, space and evaluator rebuilt, and the mask finished as the run
    finishes every method: its results row, and the dense model's."""
    from evoprune.finish.measure import finish
    from evoprune.pruning.pruned import Pruned
    from evoprune.run import data_and_dense_model, seed_everything, space_and_evaluator

    problem = space_and_evaluator(cfg, config, *data_and_dense_model(cfg, config))
    try:
        try:
            mask = problem.space.from_description(description)
        except (KeyError, TypeError, IndexError, ValueError) as err:
            raise MaskRequestError(f"{mask_file} does not fit the model of {run_dir}: "
                                   f"{_reason(err)}") from err
        seed_everything(cfg.seed)  # as the run's finish stage does for every method
        row = finish("mask", Pruned(mask), dense=problem.model, space=problem.space,
                     evaluator=problem.evaluator, data=problem.data, finetune=problem.finetune,
                     seed=cfg.seed, latency=problem.latency, distill=problem.distill,
                     progress=progress).row
    finally:
        problem.evaluator.close()
    return row, problem.dense


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m evoprune.finetune_mask",
        description="Fine-tune a mask of a run's model with the run's recipe and report it.")
    parser.add_argument("run_dir", type=Path, help="a run directory of python -m evoprune")
    parser.add_argument("mask_file", type=Path,
                        help="mask_<method>.json, pareto.json (with --member), or your own")
    parser.add_argument("--member", type=int, default=None,
                        help="index of the front member in a pareto.json")
    parser.add_argument("--out", type=Path, default=None, help="results JSON to write "
                        "(default: <run_dir>/finetuned_<mask file>[_member<I>].json)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        results = finetune_mask(args.run_dir, args.mask_file, member=args.member, out=args.out,
                                progress=not args.no_progress)
    except UserError as err:  # its own and the run's (a lost cache, say)
        print(f"error: {err}", file=sys.stderr)
        return USAGE_ERROR
    from evoprune.infra.progress import console

    console.print(
        f"{args.mask_file}{'' if args.member is None else f' member {args.member}'}: test acc "
        f"{results['test_acc_before_finetune']:.4f} before fine-tuning, "
        f"{results['test_acc']:.4f} after (dense {results['dense']['test_acc']:.4f}); MACs "
        f"ratio {results['macs_ratio']:.3f} ({results['macs']:,} MACs), "
        f"{results['params']:,} params\nresults: {results['out']}", highlight=False)
    return 0


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise MaskRequestError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise MaskRequestError(f"{what} {path} is a directory, not a JSON file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MaskRequestError(f"{what} {path} is not valid JSON: {err}") from None


def _reason(err: Exception) -> str:
    if isinstance(err, KeyError):
        return f"a group entry lacks {err}"
    return str(err)


if __name__ == "__main__":
    sys.exit(main())
