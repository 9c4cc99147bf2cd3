"""The config checked against the model and data it was given, before any training: what
:mod:`evoprune.config.checks` cannot know from the config alone (the model accepts the
inputs and has as many outputs as classes, every baseline can prune it, the scoring mode can
run it, a sparsity penalty has something to act on). Each refusal is one line naming the key."""

from __future__ import annotations

import torch

from evoprune.baselines import registry
from evoprune.config.errors import ConfigError
from evoprune.data import DataSplits
from evoprune.evaluate.runtime import (
    OnnxExportError,
    OnnxSession,
    checked_onnx,
    exported_program,
)
from evoprune.evaluate.scorer import check_mode_runs
from evoprune.infra.errors import UserError
from evoprune.infra.progress import console
from evoprune.pruning.budget import check_budget
from evoprune.pruning.space import PruningSpace
from evoprune.pruning.sparsity import SparsityPenalty


class ModelDoesNotFitData(UserError, ValueError):
    """The model refuses the data's inputs, or returns the wrong number of classes."""


def check_model_accepts(model: torch.nn.Module, data: DataSplits) -> None:
    try:
        with torch.no_grad():
            out = model.eval()(data.train.inputs(2))
    except RuntimeError as err:
        raise ModelDoesNotFitData(
            f"model {type(model).__name__} does not accept {data.name} inputs of shape "
            f"{list(data.input_shape)}: {err}"
        ) from err
    if out.shape != (2, data.num_classes):
        raise ModelDoesNotFitData(
            f"model {type(model).__name__} returns shape {list(out.shape[1:])} per sample; "
            f"{data.name} has {data.num_classes} classes"
        )


def check_against_model(config: dict, model: torch.nn.Module, space: PruningSpace,
                        data: DataSplits, *, weights_given: bool) -> SparsityPenalty | None:
    """Refuse what the model makes impossible; say which baselines ``all`` leaves out and
    why. Returns the dense training's sparsity penalty (None without one)."""
    device = next(model.parameters()).device
    if config["evaluator"]["cost"] == "macs":  # a latency budget needs timings: checked later
        check_budget(space, config["budget"])
    try:
        chosen, skipped = registry.applicable(config["baselines"], space)
        registry.applicable(list(config["warm_start"]), space)
    except ValueError as err:
        raise ConfigError(f"baselines: {err}") from None
    try:
        check_mode_runs(model, space, data.val.inputs(4).to(device), config["evaluator"]["mode"],
                        config["evaluator"]["batch_candidates"])
    except ValueError as err:
        raise ConfigError(f"evaluator.{err}") from None
    _check_onnx(config, model, data)
    for reason in skipped:
        console.print(f"baselines={config['baselines']}: {reason}", highlight=False)
    train = config["train"]
    if "slimming" in chosen and not (train["l1_bn"] or train["group_lasso"] or weights_given):
        console.print("slimming: the dense model is trained without train.l1_bn or "
                      "train.group_lasso, so its scales were not made sparse", highlight=False)
    if weights_given or not (train["l1_bn"] or train["group_lasso"]):
        return None
    try:
        return SparsityPenalty(space, model, l1_bn=train["l1_bn"],
                               group_lasso=train["group_lasso"])
    except ValueError as err:  # a penalty this model gives nothing to act on
        raise ConfigError(str(err)) from None


def _check_onnx(config: dict, model: torch.nn.Module, data: DataSplits) -> None:
    """With ONNX asked for, the dense model must export and run in ONNX Runtime: a pruned
    model has the same operators, and finding out after the search would waste it."""
    if config["export"]["onnx"]:
        key, value = "export.onnx", "true"
    elif config["latency"]["runtime"] == "onnxruntime":
        key, value = "latency.runtime", "onnxruntime"
    else:
        return
    inputs = data.val.inputs(4)
    try:
        exported, _ = checked_onnx(exported_program(model, inputs), inputs)
    except OnnxExportError as err:
        raise ConfigError(f"{key}={value}: {type(model).__name__} does not run in ONNX Runtime "
                          f"as in torch ({err}); use {key}="
                          f"{'false' if key == 'export.onnx' else 'torch'}") from None
    if config["latency"]["runtime"] == "onnxruntime":  # a GPU needs onnxruntime-gpu's provider
        OnnxSession(exported, device=config["latency"]["device"]
                    or next(model.parameters()).device)
