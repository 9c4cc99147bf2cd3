"""The config's keys: where its files are, which top-level keys and groups exist, which keys
moved, and the closest valid key to a mistyped one.

Hydra refuses a new key unless it is written with ``+``, and its message suggests exactly that
(``+serach=nsga2``), which would then run the default search without a word. The run refuses
any top-level key the config does not define, naming the closest one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

import yaml

from evoprune.config.errors import ConfigError

# conf/ sits at the top of the repository, beside src/ (a checkout or an editable install reads
# it there); a built package carries a copy inside it (setup.py)
_PACKAGED = Path(__file__).resolve().parents[1] / "conf"
_REPOSITORY = Path(__file__).resolve().parents[3] / "conf"
CONFIG_DIR = str(_PACKAGED if _PACKAGED.is_dir() else _REPOSITORY)

# keys that moved: an old command line gets one line naming the new key
RENAMED_KEYS = {"fitness.cost": "evaluator.cost"}


@cache
def top_level_keys() -> frozenset[str]:
    """The keys ``conf/config.yaml`` defines and the groups its defaults list chooses from."""
    root = yaml.safe_load((Path(CONFIG_DIR) / "config.yaml").read_text())
    groups = set()
    for entry in root["defaults"]:
        if isinstance(entry, dict):
            name = next(iter(entry)).removeprefix("optional ").split("@")[0].split("/")[0]
            groups.add(name.strip())
    return frozenset(set(root) - {"defaults", "hydra"} | groups)


def closest(key: str, choices: Iterable[str]) -> str:
    """`` (did you mean X?)`` for the choice most like ``key``, or nothing when none is."""
    match = difflib.get_close_matches(key, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


def check_known(keys: Iterable[str]) -> None:
    """Refuse a top-level key the config does not define (added with ``+key=...``)."""
    known = top_level_keys()
    unknown = sorted(set(keys) - known)
    if unknown:
        key = unknown[0]
        raise ConfigError(f"{key} is not a config key{closest(key, known)}; the keys are "
                          f"{', '.join(sorted(known))}")


def check_renamed(overrides: Sequence[str]) -> None:
    """Refuse a command-line override of a key that moved, naming where it went (before
    Hydra, which would only say the key is unknown)."""
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if key in RENAMED_KEYS:
            raise ConfigError(f"{key} is now {RENAMED_KEYS[key]}: use "
                              f"{RENAMED_KEYS[key]}={value or '<value>'}")
