"""Experiment tracking behind a small ``Tracker`` protocol.

Two backends exist: :class:`WandbTracker` (Weights & Biases, offline by default) and
:class:`NullTracker` (does nothing). Search code only talks to the protocol, so tracking
can be switched off without touching it. ``wandb`` is imported lazily: it takes about a
second to import and is not needed when tracking is off.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from evoprune.infra.validators import check_int

ALLOWED_MODES = ("offline", "online", "disabled")
TRACKER_KINDS = ("wandb", "none")
MODE_ENV_VAR = "WANDB_MODE"


@runtime_checkable
class Tracker(Protocol):
    """What search code may call on a tracker."""

    def log(self, metrics: Mapping[str, float | int], step: int | None = None) -> None:
        """Record one row of metrics, optionally at an explicit step."""
        ...

    def summary(self, values: Mapping[str, object]) -> None:
        """Record final results; nested mappings become ``"a/b"`` keys."""
        ...

    def files(self, paths: Sequence[Path], base: Path) -> None:
        """Attach finished files to the run, named by their path under ``base``."""
        ...

    def table(self, name: str, rows: Sequence[Mapping[str, object]]) -> None:
        """Record a table, one row per mapping (columns: every key, first seen first)."""
        ...

    def finish(self) -> None:
        """Close the run; calling it again does nothing."""
        ...


def flatten(values: Mapping[str, object], sep: str = "/") -> dict[str, object]:
    """Flatten nested mappings into one level, joining keys with ``sep``.

    ``{"final": {"acc": 0.9}}`` becomes ``{"final/acc": 0.9}``; W&B groups such keys into
    sections, and flat keys keep history and summary tables easy to compare.
    """
    flat: dict[str, object] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise TypeError(f"metric keys must be strings, got {key!r} ({type(key).__name__})")
        if isinstance(value, Mapping):
            for sub_key, sub_value in flatten(value, sep).items():
                flat[f"{key}{sep}{sub_key}"] = sub_value
        else:
            flat[key] = value
    return flat


def resolve_mode(mode: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """Pick the W&B mode: explicit ``mode``, else ``$WANDB_MODE``, else ``"offline"``.

    Offline is the default so that nothing leaves the machine unless the user asks for it.
    ``environ`` defaults to ``os.environ`` (a parameter so that callers can test it).
    Raises ``ValueError`` for a value outside :data:`ALLOWED_MODES`.
    """
    if mode is not None:
        source, value = "mode", mode
    else:
        env = os.environ if environ is None else environ
        value = env.get(MODE_ENV_VAR, "")
        # An empty variable counts as unset, as in a shell `WANDB_MODE= cmd`.
        if not value.strip():
            return "offline"
        source = f"environment variable {MODE_ENV_VAR}"
    if not isinstance(value, str) or value.strip().lower() not in ALLOWED_MODES:
        raise ValueError(
            f"invalid W&B {source} {value!r}; allowed: {', '.join(map(repr, ALLOWED_MODES))}"
        )
    return value.strip().lower()


class _ClosesOnExit:
    """``with tracker:`` finishes the run on exit; an exception marks it failed (exit code 1)."""

    def _finish(self, exit_code: int | None) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish(exit_code=None if exc_type is None else 1)


class NullTracker(_ClosesOnExit):
    """A tracker that records nothing; used when tracking is off."""

    run_path: Path | None = None
    sync_command: str | None = None

    def log(self, metrics: Mapping[str, float | int], step: int | None = None) -> None:
        """Ignore ``metrics``."""

    def summary(self, values: Mapping[str, object]) -> None:
        """Ignore ``values``."""

    def files(self, paths: Sequence[Path], base: Path) -> None:
        """Ignore ``paths``."""

    def table(self, name: str, rows: Sequence[Mapping[str, object]]) -> None:
        """Ignore ``rows``."""

    def finish(self) -> None:
        """Do nothing."""

    def _finish(self, exit_code: int | None) -> None:
        pass


class WandbTracker(_ClosesOnExit):
    """Track one search run with Weights & Biases.

    The mode comes from :func:`resolve_mode` (offline unless asked otherwise). Several
    trackers may be open in one process: each keeps its own ``Run`` object and never uses
    the global ``wandb.log``. Console capture and wandb's terminal output are switched off,
    since the app prints its own progress.

    When the mode is not ``"online"`` this also sets wandb's process-wide mode through
    ``wandb.setup``: wandb 0.31 decides about its usage telemetry from the process-wide
    settings, so a run made offline only through ``wandb.init(mode=...)`` still starts
    telemetry exporters that contact the W&B server at process exit.
    """

    def __init__(
        self,
        *,
        project: str,
        run_dir: str | Path,
        config: Mapping[str, Any],
        mode: str | None = None,
        name: str | None = None,
        tags: Sequence[str] = (),
        group: str | None = None,
    ) -> None:
        """Start a W&B run whose local files go under ``run_dir/wandb``.

        ``config`` must hold plain Python values (convert OmegaConf objects first).
        """
        if not isinstance(project, str) or not project:
            raise ValueError(f"project must be a non-empty string, got {project!r}")
        if not isinstance(config, Mapping):
            raise TypeError(f"config must be a mapping, got {type(config).__name__}")
        # A bare string is a Sequence too; list(tags) would make one tag per character.
        if isinstance(tags, str) or not all(isinstance(tag, str) for tag in tags):
            raise TypeError(f"tags must be a sequence of strings, got {tags!r}")

        self.mode = resolve_mode(mode)
        run_dir = Path(run_dir)
        # wandb warns "git root ... does not exist" when its dir is missing at init.
        run_dir.mkdir(parents=True, exist_ok=True)

        import wandb

        if self.mode != "online":
            wandb.setup(settings=wandb.Settings(mode=self.mode))
        self._run = wandb.init(
            project=project,
            dir=str(run_dir),
            config=dict(config),
            mode=self.mode,
            name=name,
            tags=list(tags),
            group=group,
            # Each tracker gets its own run instead of reusing an unfinished one.
            reinit="create_new",
            # silent: no banner or sync hints; console="off": no stdout/stderr wrapping.
            settings=wandb.Settings(silent=True, console="off"),
        )
        self._finished = False
        self._last_step: int | None = None

    @property
    def run_path(self) -> Path | None:
        """The local run directory (``run_dir/wandb/offline-run-*`` offline); None if disabled."""
        if self.mode == "disabled":
            return None
        return Path(self._run.settings.sync_dir)

    @property
    def sync_command(self) -> str | None:
        """The shell command that uploads an offline run later; None in other modes."""
        if self.mode != "offline":
            return None
        return f"wandb sync {shlex.quote(str(self.run_path))}"

    def log(self, metrics: Mapping[str, float | int], step: int | None = None) -> None:
        """Record one row of ``metrics`` (nested mappings are flattened to ``"a/b"`` keys).

        ``step`` must not go below an earlier explicit ``step``: wandb would drop the row with
        only a warning, so this raises ``ValueError`` instead. (Rows logged without ``step``
        advance wandb's own counter; mixing both styles is not checked.)
        """
        self._check_open("log")
        if step is not None:
            check_int("step", step, 0)
            if self._last_step is not None and step < self._last_step:
                raise ValueError(
                    f"step {step} is lower than the last logged step {self._last_step}; "
                    "W&B would drop this row, steps must not decrease"
                )
            self._last_step = step
        self._run.log(flatten(metrics), step=step)

    def summary(self, values: Mapping[str, object]) -> None:
        """Record final results; nested mappings are flattened to ``"a/b"`` keys."""
        self._check_open("summary")
        self._run.summary.update(flatten(values))

    def files(self, paths: Sequence[Path], base: Path) -> None:
        """Copy each file into the run's own files folder (``base/a/b.png`` as ``a/b.png``)
        and save it there: an offline run then holds its files, not links that break when
        the run directory moves, and ``wandb sync`` uploads them with the rest."""
        self._check_open("files")
        if self.mode == "disabled":
            return
        run_files = Path(self._run.dir)
        for path in map(Path, paths):
            copy = run_files / path.relative_to(base)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
            self._run.save(str(copy), base_path=str(run_files), policy="now")

    def table(self, name: str, rows: Sequence[Mapping[str, object]]) -> None:
        """Log a ``wandb.Table`` under ``name``; nested mappings become ``"a/b"`` columns and
        other values that are not plain scalars (lists) go in as their JSON text."""
        self._check_open("table")
        import wandb

        rows = [flatten(row) for row in rows]
        columns = list(dict.fromkeys(key for row in rows for key in row))
        data = [[_cell(row.get(column)) for column in columns] for row in rows]
        self._run.log({name: wandb.Table(columns=columns, data=data)})

    def finish(self) -> None:
        """Close the run; later calls do nothing.

        wandb-core completes the offline run file a few milliseconds after this returns, and
        always before the process exits (wandb's exit hook waits for it), so ``wandb sync``
        afterwards sees the whole run. Code that reads the file in the same process right
        away waits for the run's exit record, e.g. with ``wandb leet inspect --follow``.
        """
        self._finish(exit_code=None)

    def _finish(self, exit_code: int | None) -> None:
        if self._finished:
            return
        self._run.finish(exit_code=exit_code)
        self._finished = True

    def _check_open(self, action: str) -> None:
        # wandb only warns (and drops the data) after finish; fail loudly instead.
        if self._finished:
            raise RuntimeError(f"cannot {action}: this tracker has already finished")


def _cell(value: object) -> object:
    """A table cell: plain scalars as they are, anything else as JSON text."""
    if hasattr(value, "tolist"):  # NumPy scalars and arrays
        value = value.tolist()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, default=str)


def check_settings(*, kind: str = "none", project: str = "evoprune", mode: str | None = None,
                   tags: Sequence[str] = ()) -> None:
    """Refuse tracker settings before any run starts (``mode`` as :func:`resolve_mode`)."""
    if kind not in TRACKER_KINDS:
        raise ValueError(f"kind must be one of {list(TRACKER_KINDS)}, got {kind!r}")
    if kind == "none":
        return
    if not isinstance(project, str) or not project.strip():
        raise ValueError(f"project must be a non-empty name, got {project!r}")
    if mode is not None and (not isinstance(mode, str) or mode.lower() not in ALLOWED_MODES):
        raise ValueError(f"mode must be one of {list(ALLOWED_MODES)} or null, got {mode!r}")
    if isinstance(tags, str) or not all(isinstance(tag, str) for tag in tags):
        raise ValueError(f"tags must be a list of strings, got {tags!r}")


def make_tracker(kind: str, **kwargs: Any) -> Tracker:
    """Build a tracker of ``kind`` (``"wandb"`` or ``"none"``).

    ``kwargs`` go to :class:`WandbTracker`; for ``"none"`` they are ignored, so callers can
    pass the same arguments whatever the kind.
    """
    if kind == "wandb":
        return WandbTracker(**kwargs)
    if kind == "none":
        return NullTracker()
    raise ValueError(
        f"unknown tracker kind {kind!r}; allowed: {', '.join(map(repr, TRACKER_KINDS))}"
    )
