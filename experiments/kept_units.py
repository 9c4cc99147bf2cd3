"""Which units each method kept: per method and budget, the mean kept units of every group
over the seeds, from the runs' ``mask_<method>.json`` files.

    python experiments/kept_units.py STUDY_DIR > kept_units.md

STUDY_DIR holds Hydra multiruns (any depth). One table per budget: a row per method, a column
per group (its kind and size in the header: ``layers.0.self_attn (head, 4)``), each cell the
mean units kept over the seeds that ran it.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

MASK_PREFIX = "mask_"


def kept_units(root: Path) -> tuple[dict, list[tuple[str, str, int]]]:
    """``{(budget, method): {group: [kept per seed]}}`` and the groups in network order
    (name, kind, size); a method's mask counts once per job."""
    kept: dict[tuple[float, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    groups: dict[str, tuple[str, str, int]] = {}
    for results_file in sorted(root.rglob("results.json")):
        config = json.loads(results_file.read_text())["config"]
        for mask_file in sorted(results_file.parent.glob(f"{MASK_PREFIX}*.json")):
            method = mask_file.stem.removeprefix(MASK_PREFIX)
            for group in json.loads(mask_file.read_text()).get("groups", []):
                groups.setdefault(group["name"], (group["name"], group["kind"], group["size"]))
                kept[(float(config["budget"]), method)][group["name"]].append(group["kept"])
    return kept, list(groups.values())


def tables(kept: dict, groups: list[tuple[str, str, int]]) -> list[str]:
    lines = []
    for budget in sorted({b for b, _ in kept}, reverse=True):
        lines += [f"### Budget {budget:g}: units kept (mean over seeds)", "",
                  "| method | " + " | ".join(f"{n} ({k}, {s})" for n, k, s in groups) + " |",
                  "| --- |" + " ---: |" * len(groups)]
        for (b, method), per_group in sorted(kept.items()):
            if b != budget:
                continue
            cells = [f"{sum(v) / len(v):.1f}" if (v := per_group.get(name)) else "–"
                     for name, _, _ in groups]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit("usage: python experiments/kept_units.py STUDY_DIR")
    kept, groups = kept_units(Path(argv[0]))
    if not kept:
        sys.exit(f"error: no results.json with mask files under {argv[0]}")
    print("\n".join(tables(kept, groups)).rstrip())


if __name__ == "__main__":
    main(sys.argv[1:])
