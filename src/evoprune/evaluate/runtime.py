"""Where a model runs once deployed: torch, or ONNX Runtime through an ONNX export.

ONNX export and ONNX Runtime are an optional extra (``pip install 'evoprune[onnx]'``):
:func:`require_onnx` says so in one line before any work when a run asks for them. The export
goes through torch's own exporter (``torch.onnx.export(..., dynamo=True)``, which needs
``onnxscript``), from the same ``torch.export`` program ``model_<method>.pt2`` holds, with the
batch dimension dynamic.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import logging
import warnings

import numpy as np
import torch
from torch import nn

from evoprune.infra.errors import UserError

RUNTIMES = ("torch", "onnxruntime")
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")
ONNX_EXTRA = "pip install 'evoprune[onnx]'"
# opset 18 is the oldest the dynamo exporter writes natively (no version conversion)
OPSET = 18
EXPORTER_LOGGERS = ("torch.onnx", "onnxscript", "onnx_ir")


class MissingExtraError(UserError, ImportError):
    """A run asked for something an optional extra provides, and it is not installed."""


def require_onnx(why: str) -> None:
    """Refuse ``why`` (the setting that asked, e.g. ``export.onnx=true``) in one line when a
    package of the ``onnx`` extra is missing."""
    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(f"{why} needs ONNX export and ONNX Runtime, and "
                                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                                f"not installed: {ONNX_EXTRA}")


def check_runtime(runtime: object) -> None:
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {list(RUNTIMES)}, got {runtime!r}")


def exported_program(model: nn.Module, example_input: torch.Tensor
                     ) -> torch.export.ExportedProgram:
    """``model`` (on the CPU, in eval mode) as a ``torch.export`` program taking any batch
    size. ``example_input`` must hold at least 2 samples: a batch of one fixes the size."""
    if example_input.shape[0] < 2:
        raise ValueError(f"export needs an example batch of at least 2 samples, got "
                         f"{example_input.shape[0]}: a batch of one fixes the batch size at 1")
    if next(model.parameters()).device.type != "cpu":  # a program that loads anywhere
        model = copy.deepcopy(model).cpu()
    batch = {0: torch.export.Dim("batch")}
    with warnings.catch_warnings():  # a recurrent layer's internal weight list, rebuilt on load
        warnings.filterwarnings("ignore", message=r"The tensor attributes .*_flat_weights")
        return torch.export.export(model.eval(), (example_input.cpu(),), dynamic_shapes=(batch,))


def onnx_bytes(program: torch.export.ExportedProgram) -> bytes:
    """The serialized ONNX model of ``program`` (input ``input``, output ``output``, dynamic
    batch). The exporter's own chatter (progress lines, skipped torchvision operators) is
    silenced: it says nothing about this model."""
    loggers = [logging.getLogger(name) for name in EXPORTER_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:  # a run's logging config (Hydra's) would show their INFO lines
        logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            onnx_program = torch.onnx.export(program, dynamo=True, opset_version=OPSET,
                                             input_names=["input"], output_names=["output"],
                                             verbose=False)
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
    return onnx_program.model_proto.SerializeToString()


class OnnxSession:
    """An ONNX Runtime session of one serialized model, callable on torch tensors.

    ``threads``: ONNX Runtime's intra-op threads (None: its default, every core).
    ``device``: ``cpu`` (the CPU execution provider) or ``cuda`` (the CUDA provider, which
    the ``onnxruntime-gpu`` package brings)."""

    def __init__(self, model: bytes, *, threads: int | None = 1,
                 device: torch.device | str = "cpu") -> None:
        import onnxruntime as ort

        kind = torch.device(device).type
        provider = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}[kind]
        if provider not in ort.get_available_providers():
            raise MissingExtraError(
                f"latency.runtime=onnxruntime on {kind} needs ONNX Runtime's {provider}, and "
                f"the installed onnxruntime has {ort.get_available_providers()}: install "
                "onnxruntime-gpu, or time on the CPU (latency.device=cpu)")
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: no notes on graph optimisations
        self.session = ort.InferenceSession(model, options, providers=[provider])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, inputs: torch.Tensor) -> np.ndarray:
        return self.session.run(None, {self.input_name: inputs.detach().cpu().numpy()})[0]


class OnnxExportError(UserError, RuntimeError):
    """A model does not export to ONNX, does not run in ONNX Runtime, or computes something
    else there than in torch."""


def checked_onnx(program: torch.export.ExportedProgram, inputs: torch.Tensor
                 ) -> tuple[bytes, float]:
    """``program`` as a serialized ONNX model, with the largest absolute difference between
    ONNX Runtime's outputs on ``inputs`` and the program's. Raises :class:`OnnxExportError`
    when the export or the session fails, or when the outputs differ by more than float32
    arithmetic explains (1e-4 of the largest output, 1e-4 at least)."""
    try:
        model = onnx_bytes(program)
        session = OnnxSession(model, threads=None)
        with torch.inference_mode():
            expected = program.module()(inputs.cpu()).numpy()
        difference = float(np.max(np.abs(session(inputs) - expected)))
    except MissingExtraError:
        raise
    except Exception as err:  # the exporter and ONNX Runtime raise many types of their own
        detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise OnnxExportError(f"{type(err).__name__}: {detail}"[:300]) from err
    scale = float(np.max(np.abs(expected)))
    if not difference <= 1e-4 * max(1.0, scale):  # NaN fails too
        raise OnnxExportError(f"ONNX Runtime's outputs differ from torch's by up to "
                              f"{difference:.3g} (outputs reach {scale:.3g})")
    return model, difference


__all__ = [
    "MissingExtraError",
    "ONNX_EXTRA",
    "OnnxSession",
    "RUNTIMES",
    "check_runtime",
    "exported_program",
    "OnnxExportError",
    "checked_onnx",
    "onnx_bytes",
    "require_onnx",
]
