"""The user's own classes and functions named by ``_target_`` (a model, a data loader): found
with a message that says how Python looks for them, and called with only what they take.

``python -m evoprune model=custom model._target_=my_models.TinyNet`` imports ``my_models`` from
the current directory or ``PYTHONPATH``, and passes ``input_shape`` and ``num_classes`` only if
``TinyNet`` takes them; a data loader gets ``seed`` the same way.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate

from evoprune.config.errors import ConfigError
from evoprune.data.datasets import as_data_splits
from evoprune.infra.errors import UserError
from evoprune.tasks import CLASSIFICATION, Task

HYDRA_KEYS = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_")


def import_target(key: str, path: object) -> Any:
    """The object ``path`` (``package.module.Name``) names, or a :class:`ConfigError` about
    ``<key>._target_`` saying why it cannot be found."""
    if not isinstance(path, str) or "." not in path.strip("."):
        raise ConfigError(f"{key}._target_ must be a dotted path such as my_models.TinyNet "
                          f"(module, then name), got {path!r}")
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):  # the longest importable module prefix
        module_name = ".".join(parts[:split])
        try:
            target = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name is not None and module_name.startswith(err.name):
                continue  # this prefix is not a module: perhaps a shorter one is
            raise ConfigError(f"{key}._target_={path}: importing {module_name} failed: "
                              f"{err}") from err
        except Exception as err:  # noqa: BLE001 - the user's module failed while importing
            raise ConfigError(f"{key}._target_={path}: importing {module_name} failed: "
                              f"{type(err).__name__}: {err}") from err
        try:
            for name in parts[split:]:
                target = getattr(target, name)
        except AttributeError as err:
            raise ConfigError(f"{key}._target_={path}: module {module_name} has no "
                              f"{'.'.join(parts[split:])}") from err
        return target
    file = parts[0] + ".py"
    raise ConfigError(
        f"{key}._target_={path}: no module named {parts[0]!r} on Python's import path, which "
        f"holds the current directory and PYTHONPATH: run from the folder that holds {file}, "
        f"or put that folder on the path: PYTHONPATH=/path/to/folder python -m evoprune ...")


def call_arguments(key: str, spec: Mapping[str, Any], offered: Mapping[str, Any]
                   ) -> tuple[Any, dict[str, Any]]:
    """The target of ``spec`` and the keyword arguments it will get: the config's own keys,
    which it must take, plus each ``offered`` value (not None) it takes and the config does
    not set."""
    target = import_target(key, spec.get("_target_"))
    given = {k: v for k, v in spec.items() if k not in HYDRA_KEYS}
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):  # a builtin without a signature: pass the config as is
        return target, given
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = [k for k in given if k not in parameters and not takes_any]
    if unknown:
        raise ConfigError(
            f"{key}._target_={spec['_target_']} does not take {', '.join(unknown)}, which the "
            f"{key} config holds: for your own {key}, start from the empty config, "
            f"{key}=custom {key}._target_={spec['_target_']}, and add only what it takes "
            f"(+{key}.<name>=<value>)")
    extra = {name: value for name, value in offered.items()
             if value is not None and name in parameters and name not in given}
    return target, {**given, **extra}


def build(key: str, spec: Mapping[str, Any], **offered: Any) -> Any:
    """Call the target of ``spec`` (through Hydra, so nested ``_target_`` configs work) with
    its config and the ``offered`` values it takes."""
    _, arguments = call_arguments(key, spec, offered)
    hydra_keys = {k: v for k, v in spec.items() if k in HYDRA_KEYS}
    return instantiate({**hydra_keys, **arguments})


def make_task(section: Mapping[str, Any]) -> Task:
    """The run's :class:`~evoprune.tasks.Task` from its ``task`` config."""
    task = instantiate(dict(section))
    if not isinstance(task, Task):
        raise ConfigError(f"task._target_={section.get('_target_')} made a "
                          f"{type(task).__name__}, not an evoprune.tasks.Task")
    return task


def make_data(section: Mapping[str, Any], seed: int, task: Task = CLASSIFICATION):
    """The run's data from its ``data`` config, checked against the data contract (its labels
    against ``task``'s)."""
    try:
        made = build("data", section, seed=seed)
    except InstantiationException as err:  # Hydra wraps the loader's own refusal of its files
        if isinstance(err.__cause__, UserError):
            raise err.__cause__ from None
        raise
    return as_data_splits(made, f"data._target_={section['_target_']}", seed=seed, task=task)


def make_model(section: Mapping[str, Any], input_shape, num_classes: int):
    """The (untrained) model from the run's ``model`` config, for data of this shape."""
    return build("model", section, input_shape=list(input_shape), num_classes=num_classes)
