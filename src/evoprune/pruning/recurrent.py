"""Recurrent layers (``nn.RNN``, ``nn.GRU``, ``nn.LSTM``) in the pruning space.

Why this is owned here rather than left to torch-pruning (1.6.1): its dependency graph raises
``IndexError`` on a Conv1d → GRU model and on a GRU whose ``h_n`` feeds the head, a lone GRU is
reported as "unwrapped parameters" with nothing prunable, and its LSTM pruner handles one
unidirectional layer and slices ``weight_hh`` by hidden rows instead of gate rows. So:

- **Tracing.** In a copy of the model each recurrent module is replaced by a :class:`StandIn`
  of linear layers with the module's input and output widths and output shapes, which
  torch-pruning traces like any linear layer: it finds the layers that read a recurrent
  layer (and the conv channels a recurrent layer reads, translated to its first input weights
  by :func:`consumer_dims`). Which of a reader's inputs carry which unit is measured instead
  (:func:`probe_readers`): torch-pruning's index mapping is wrong past a flatten of a
  ``(batch, steps, units)`` sequence, since it takes the last dimension of a 3-D linear
  output for channels.
- **Units tied across layers and directions.** Hidden unit ``j`` of a module is removed from
  every layer and both directions at once, so the compacted module is still one
  ``nn.GRU``/``nn.LSTM`` with a smaller ``hidden_size`` (fused kernels keep applying). An
  LSTM's ``proj_size`` units are a group of their own (rows of ``weight_hr``, columns of
  ``weight_hh`` and of whatever reads the output).
- **Masking is exact.** Zeroing a removed unit's rows in every gate block (``weight_ih``,
  ``weight_hh``, both biases) and its columns keeps its state at 0 from a zero initial state
  (GRU: ``h' = z h + (1 - z) tanh(0)``; LSTM: ``c' = f c + i tanh(0)``, ``h = o tanh(c)``;
  RNN: ``h' = tanh(0)``), so the masked module computes what the smaller one computes. A
  forward pass that passes its own non-zero initial state breaks that; evoprune's models don't.
- **Costs.** Per sample, each layer and direction costs ``steps × rows × cols`` of each of its
  weight matrices: ``steps × gates × (input + hidden) × hidden`` (+ ``steps × hidden × proj``
  with a projection; its ``weight_hh`` has ``proj`` columns), which is what
  ``torch.utils.flop_counter`` counts as FLOPs / 2 with the oneDNN kernels off.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

RECURRENT_TYPES = (nn.RNN, nn.GRU, nn.LSTM)
_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "GRU": 3, "LSTM": 4}
HIDDEN, OUTPUT = "hidden", "output"  # a stand-in's two linear layers (output: the projection)


def gates(module: nn.RNNBase) -> int:
    """Gate blocks stacked in each weight's rows: RNN 1, GRU 3, LSTM 4."""
    return _GATES[module.mode]


def directions(module: nn.RNNBase) -> list[str]:
    """Parameter-name suffix of each direction."""
    return ["", "_reverse"] if module.bidirectional else [""]


def output_width(module: nn.RNNBase) -> int:
    """Features per direction of the module's output (the projection's, if any)."""
    return module.proj_size or module.hidden_size


class StandIn(nn.Module):
    """What torch-pruning traces in place of a recurrent module: ``hidden`` maps the input
    features to every direction's hidden units, ``output`` (LSTM with ``proj_size``) maps those
    to the projected units. It returns tensors of the module's output shapes: the sequence of
    every direction's features, and ``h_n`` (and ``c_n``) built from the first direction's
    features of the last step, so a head reading ``h_n[i][:, j]`` is traced to unit ``j``."""

    def __init__(self, module: nn.RNNBase) -> None:
        super().__init__()
        count = len(directions(module))
        self.hidden = nn.Linear(module.input_size, count * module.hidden_size, bias=False)
        self.output = (nn.Linear(count * module.hidden_size, count * module.proj_size,
                                 bias=False) if module.proj_size else None)
        self.batch_first = module.batch_first
        self.states = module.num_layers * count
        self.lstm = module.mode == "LSTM"
        self.width = (module.hidden_size, output_width(module))

    def forward(self, x: torch.Tensor, hx=None):
        if not isinstance(x, torch.Tensor):
            raise TypeError("evoprune prunes recurrent layers fed plain tensors; a "
                            "PackedSequence input is not supported")
        cells = self.hidden(x)
        out = self.output(cells) if self.output is not None else cells
        h_n = self._final(out, self.width[1])
        return (out, (h_n, self._final(cells, self.width[0]))) if self.lstm else (out, h_n)

    def _final(self, sequence: torch.Tensor, width: int) -> torch.Tensor:
        last = sequence[:, -1] if self.batch_first and sequence.dim() == 3 else sequence[-1]
        return torch.stack([last[..., :width]] * self.states, 0)


def recurrent_modules(model: nn.Module) -> dict[str, nn.RNNBase]:
    """The recurrent modules of ``model`` by name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, RECURRENT_TYPES)}


def with_stand_ins(model: nn.Module) -> tuple[nn.Module, dict[str, tuple[str, str]]]:
    """A copy of ``model`` with every recurrent module replaced by its :class:`StandIn`, and
    the name of each stand-in linear layer → ``(recurrent module name, HIDDEN | OUTPUT)``.
    A model without recurrent modules is returned as it is."""
    modules = recurrent_modules(model)
    if not modules:
        return model, {}
    traced = copy.deepcopy(model)
    parts: dict[str, tuple[str, str]] = {}
    for name, module in modules.items():
        parent, _, child = name.rpartition(".")
        stand_in = StandIn(module).to(next(module.parameters()).device)
        setattr(traced.get_submodule(parent) if parent else traced, child, stand_in)
        parts[f"{name}.{HIDDEN}"] = (name, HIDDEN)
        if stand_in.output is not None:
            parts[f"{name}.{OUTPUT}"] = (name, OUTPUT)
    return traced, parts


def group_size(module: nn.RNNBase, part: str) -> int:
    """Units of a recurrent module's group: hidden units, or projected units."""
    return module.hidden_size if part == HIDDEN else module.proj_size


def consumer_dims(module: nn.RNNBase, part: str) -> list[tuple[str, int]]:
    """``(parameter, dim)`` of ``module`` that read the features its stand-in part reads,
    index for index: the first layer's input columns (the stand-in's ``hidden`` part; its
    ``output`` part reads the module's own hidden units, handled by :func:`unit_couplings`)."""
    if part != HIDDEN:
        return []
    return [(f"weight_ih_l0{suffix}", 1) for suffix in directions(module)]


def unit_couplings(module: nn.RNNBase, part: str) -> list[tuple[str, int, np.ndarray]]:
    """Every ``(parameter, dim, unit of each index)`` of ``module`` itself that follows the
    units of its ``part`` group, units numbered from 0 within the group: gate rows, the
    columns of the recurrent and projection weights, the next layer's input columns."""
    size = group_size(module, part)
    units = np.arange(size, dtype=np.int64)
    rows = np.tile(units, gates(module))  # one row per unit in each gate block
    suffixes = directions(module)
    reads_units = np.tile(units, len(suffixes))  # the next layer reads every direction
    couplings: list[tuple[str, int, np.ndarray]] = []
    for layer in range(module.num_layers):
        for suffix in suffixes:
            tag = f"l{layer}{suffix}"
            if part == HIDDEN:
                couplings += [(f"weight_ih_{tag}", 0, rows), (f"weight_hh_{tag}", 0, rows)]
                couplings += [(f"bias_{kind}_{tag}", 0, rows) for kind in ("ih", "hh")
                              if module.bias]
            if part == HIDDEN and module.proj_size:
                couplings.append((f"weight_hr_{tag}", 1, units))
                continue
            if part == OUTPUT:
                couplings.append((f"weight_hr_{tag}", 0, units))
            couplings.append((f"weight_hh_{tag}", 1, units))  # the state the unit feeds back
            if layer + 1 < module.num_layers:
                for following in suffixes:
                    couplings.append((f"weight_ih_l{layer + 1}{following}", 1, reads_units))
    return couplings


def probe_readers(model: nn.Module, example: torch.Tensor, layer: str, part: str,
                  readers: dict[str, int]) -> dict[str, np.ndarray]:
    """For each reader (layer name → the dimension of its input that holds features), the
    unit of ``layer``'s ``part`` group each of its input features carries (-1: none).

    Measured in one forward pass of a batch with one sample per unit: sample ``u`` has unit
    ``u``'s entries of the recurrent layer's outputs (the sequence, ``h_n``, ``c_n``) set to
    NaN, and a reader's input feature carries ``u`` where it is NaN in sample ``u`` only.
    A feature that mixes several units (a LayerNorm, attention) cannot be pruned by unit."""
    module = model.get_submodule(layer)
    size = group_size(module, part)
    units = torch.arange(size)
    count = len(directions(module))
    width = output_width(module)
    nan = float("nan")

    def mark(_module, _inputs, outputs):
        sequence, state = outputs
        hidden, cells = state if isinstance(state, tuple) else (state, None)
        if part != HIDDEN or not module.proj_size:  # what the output sequence carries
            sequence, hidden = sequence.clone(), hidden.clone()
            for direction in range(count):
                if module.batch_first:
                    sequence[units, :, direction * width + units] = nan
                else:
                    sequence[:, units, direction * width + units] = nan
            hidden[:, units, units] = nan
        if cells is not None and part == HIDDEN:
            cells = cells.clone()
            cells[:, units, units] = nan
        return sequence, ((hidden, cells) if cells is not None else hidden)

    inputs: dict[str, torch.Tensor] = {}
    handles = [module.register_forward_hook(mark)]
    for name in readers:
        handles.append(model.get_submodule(name).register_forward_pre_hook(
            lambda _m, args, name=name: inputs.__setitem__(name, args[0].detach())))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(example[:1].expand(size, *example.shape[1:]).clone())
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    owners = {}
    for name, dim in readers.items():
        reader = model.get_submodule(name)
        batch_dim = 1 if isinstance(reader, nn.RNNBase) and not reader.batch_first else 0
        marked = torch.isnan(inputs[name]).movedim((batch_dim, dim), (0, 1))
        marked = marked.reshape(size, marked.shape[1], -1).any(dim=2).numpy()  # (unit, feature)
        if (marked.sum(axis=0) > 1).any():
            from evoprune.pruning.layers import UnsupportedLayerError  # layers imports this

            raise UnsupportedLayerError(
                f"{name} reads features that mix several units of {layer}, so they cannot be "
                f"removed unit by unit; list {layer} in pruning.ignored_layers")
        owner = np.full(marked.shape[1], -1, np.int64)
        unit, feature = np.nonzero(marked)
        owner[feature] = unit
        owners[name] = owner
    return owners


def weight_macs(module: nn.RNNBase, inputs: tuple) -> list[tuple[str, int]]:
    """``(weight name, dense MACs per sample)`` of each weight matrix of a recurrent module,
    for the input it was called with."""
    x = inputs[0]
    steps = x.shape[1] if module.batch_first and x.dim() == 3 else x.shape[0]
    return [(name, int(steps * p.shape[0] * p.shape[1]))
            for name, p in module.named_parameters() if name.startswith("weight_")]


class ProjectionPadding:
    """The one idle hidden unit a compacted LSTM with a projection gets when a mask keeps as
    many projected units as hidden ones, and its cost.

    torch's LSTM kernel tells a projection from none by comparing the sizes of ``h`` and
    ``c``: with ``proj_size == hidden_size`` it reads the weights as if there were no
    projection and fails. The compacted layer then gets one extra hidden unit whose weights
    are all zero (its state stays 0: the outputs are unchanged), and the cost model counts
    that unit, so the analytic count stays the compacted model's count.
    """

    def __init__(self, module: nn.RNNBase, steps: int, hidden_units: np.ndarray,
                 proj_units: np.ndarray, input_units: np.ndarray) -> None:
        self.layers, self.count = module.num_layers, len(directions(module))
        self.gates = gates(module)
        self.bias = 2 * self.gates if module.bias else 0
        self.steps = steps
        # the unit of each hidden / projected / first-layer input index (-1: never pruned)
        self.hidden_units, self.proj_units, self.input_units = (hidden_units, proj_units,
                                                               input_units)

    @classmethod
    def of(cls, model: nn.Module, name: str, couplings: dict, traces) -> ProjectionPadding:
        """The rule for the LSTM ``name`` of ``model``, read off the space's coupling table
        (``(parameter, dim)`` → unit of each index) and its traced weights."""
        def units(param: str, dim: int) -> np.ndarray:
            length = model.get_parameter(f"{name}.{param}").shape[dim]
            return couplings.get((f"{name}.{param}", dim), np.full(length, -1, np.int64))

        first = next(t for t in traces if t.param == f"{name}.weight_ih_l0")
        steps = first.macs // model.get_parameter(first.param).numel()
        return cls(model.get_submodule(name), steps, units("weight_hr_l0", 1),
                   units("weight_hr_l0", 0), units("weight_ih_l0", 1))

    def _kept(self, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from evoprune.pruning.macs import kept_along  # macs imports this module

        hidden, proj, first = (kept_along(masks, units) for units in
                               (self.hidden_units, self.proj_units, self.input_units))
        return (hidden == proj), proj, first

    def _per_unit(self, proj: np.ndarray, first: np.ndarray) -> np.ndarray:
        """Weights of one hidden unit over every layer and direction: its gate rows of the
        input weights (the first layer reads ``first`` inputs, the others every direction's
        projection) and of the recurrent weights, and its column of the projection."""
        inputs = first + (self.layers - 1) * self.count * proj
        return self.count * (self.gates * (inputs + self.layers * proj) + self.layers * proj)

    def macs(self, masks: np.ndarray) -> np.ndarray:
        padded, proj, first = self._kept(masks)
        return padded * self.steps * self._per_unit(proj, first)

    def params(self, masks: np.ndarray) -> np.ndarray:
        padded, proj, first = self._kept(masks)
        return padded * (self._per_unit(proj, first) + self.count * self.layers * self.bias)


def rebuilt(module: nn.RNNBase, params: dict[str, torch.Tensor]) -> nn.RNNBase:
    """A recurrent module of ``module``'s kind and settings whose parameters are ``params``
    (local names, sliced to the kept units): a smaller ``nn.GRU``/``nn.LSTM`` (an LSTM keeping
    as many projected units as hidden ones gets an idle unit: :class:`ProjectionPadding`)."""
    hidden = params["weight_hh_l0"].shape[0] // gates(module)
    if module.proj_size and params["weight_hr_l0"].shape[0] == hidden:
        params = _with_idle_unit(params, hidden)
        hidden += 1
    settings = {"input_size": params["weight_ih_l0"].shape[1], "hidden_size": hidden,
                "num_layers": module.num_layers, "bias": module.bias,
                "batch_first": module.batch_first, "dropout": module.dropout,
                "bidirectional": module.bidirectional}
    if module.mode == "LSTM":
        settings["proj_size"] = params["weight_hr_l0"].shape[0] if module.proj_size else 0
        # torch refuses proj_size >= hidden_size when building an LSTM, yet computes one; a
        # mask may keep more projected units than hidden ones: build it larger, then shrink
        settings["hidden_size"] = max(hidden, settings["proj_size"] + 1)
    if module.mode.startswith("RNN_"):
        settings["nonlinearity"] = module.nonlinearity
    weight = params["weight_ih_l0"]
    smaller = type(module)(**settings, device=weight.device, dtype=weight.dtype)
    smaller.hidden_size = hidden
    for name, value in params.items():  # RNNBase's setattr also updates its weight list
        setattr(smaller, name, nn.Parameter(value.detach().clone()))
    return smaller.train(module.training)


def _with_idle_unit(params: dict[str, torch.Tensor], hidden: int) -> dict[str, torch.Tensor]:
    """``params`` of an LSTM with one more hidden unit, all of whose weights are zero."""
    padded = {}
    for name, value in params.items():
        if name.startswith("weight_hr"):  # (proj, hidden): one more column
            value = torch.cat([value, value.new_zeros(value.shape[0], 1)], dim=1)
        else:  # gate blocks of rows: one more row at the end of each
            blocks = value.split(hidden, dim=0)
            value = torch.cat([torch.cat([b, b.new_zeros(1, *b.shape[1:])]) for b in blocks])
        padded[name] = value
    return padded


__all__ = [
    "HIDDEN",
    "ProjectionPadding",
    "OUTPUT",
    "RECURRENT_TYPES",
    "StandIn",
    "consumer_dims",
    "gates",
    "group_size",
    "probe_readers",
    "rebuilt",
    "recurrent_modules",
    "unit_couplings",
    "weight_macs",
    "with_stand_ins",
]
