"""Recurrent layers in the pruning space: groups, exact masking, exact costs, compaction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from evoprune.models import RecurrentClassifier
from evoprune.pruning import make_space
from evoprune.pruning.compact import compact
from evoprune.pruning.layers import UnsupportedLayerError
from evoprune.pruning.macs import counted_macs
from evoprune.pruning.space import PruningSpace
from evoprune.pruning.unstructured import UnstructuredSpace
from tests.helpers import assert_compacts_exactly

STEPS = 12


class StateReadout(nn.Module):
    """A conv front end, a recurrent layer, and a head reading the last layer's final state
    ``h_n[-1]`` instead of the output sequence."""

    def __init__(self, cell=nn.GRU, **settings):
        super().__init__()
        self.conv = nn.Conv1d(2, 6, 3, padding=1)
        self.rnn = cell(6, 5, batch_first=True, **settings)
        self.head = nn.Linear(settings.get("proj_size") or 5, 3)

    def forward(self, x):
        _, state = self.rnn(torch.relu(self.conv(x)).transpose(1, 2))
        state = state[0] if isinstance(state, tuple) else state
        return self.head(state[-1])


CASES = {
    "gru": lambda: RecurrentClassifier((2, STEPS), 3, cell="gru", hidden=7),
    "lstm": lambda: RecurrentClassifier((2, STEPS), 3, cell="lstm", hidden=7),
    "rnn": lambda: RecurrentClassifier((2, STEPS), 3, cell="rnn", hidden=7, readout="last"),
    "gru_2_layers_bidirectional": lambda: RecurrentClassifier(
        (2, STEPS), 3, cell="gru", hidden=7, num_layers=2, bidirectional=True, readout="mean"),
    "lstm_projection_2_layers_bidirectional": lambda: RecurrentClassifier(
        (2, STEPS), 3, cell="lstm", hidden=7, proj_size=4, num_layers=2, bidirectional=True),
    "conv_gru": lambda: RecurrentClassifier((2, STEPS), 3, cell="gru", hidden=7,
                                            conv_channels=[5, 6], kernel_size=3),
    "conv_lstm": lambda: RecurrentClassifier((2, STEPS), 3, cell="lstm", hidden=7,
                                             conv_channels=[6], kernel_size=3, readout="last"),
    "gru_state_readout_bidirectional": lambda: StateReadout(bidirectional=True, num_layers=2),
    "lstm_projection_state_readout": lambda: StateReadout(nn.LSTM, proj_size=3),
}


def _build(case: str, seed: int = 0):
    torch.manual_seed(seed)
    model = CASES[case]().eval()
    for module in model.modules():  # BatchNorm statistics away from the identity
        if isinstance(module, nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model, torch.randn(5, 2, STEPS)


@pytest.mark.parametrize("case", sorted(CASES))
def test_masked_model_computes_what_the_compacted_model_computes(case):
    model, x = _build(case)
    space = PruningSpace(model, x, min_keep=0.1)
    assert space.dense_macs == counted_macs(model, x)  # the cost model checked at start
    rng = np.random.default_rng(1)
    for _ in range(3):
        mask = space.repair(rng.random(space.num_units) < 0.5)
        assert_compacts_exactly(model, space, mask, x, rtol=1e-5)


def test_a_recurrent_unit_is_one_unit_across_layers_and_directions():
    model, x = _build("gru_2_layers_bidirectional")
    space = PruningSpace(model, x)
    (group,) = space.groups
    assert (group.name, group.kind, group.size) == ("rnn", "recurrent", 7)
    mask = space.full_mask()
    mask[[1, 4]] = False
    pruned = compact(model, space, mask)
    assert isinstance(pruned.rnn, nn.GRU)  # still one fused module, two units smaller
    assert (pruned.rnn.hidden_size, pruned.rnn.num_layers, pruned.rnn.bidirectional) == (5, 2, True)
    assert pruned.head.in_features == 2 * 5


def test_an_lstm_projection_is_a_group_of_its_own():
    model, x = _build("lstm_projection_2_layers_bidirectional")
    space = PruningSpace(model, x)
    assert [(g.name, g.kind, g.size) for g in space.groups] == [
        ("rnn", "recurrent", 7), ("rnn.weight_hr", "projection", 4)]
    mask = space.mask_from_counts([5, 2])
    pruned = compact(model, space, mask)
    assert (pruned.rnn.hidden_size, pruned.rnn.proj_size) == (5, 2)
    assert pruned.head.in_features == 2 * 2 * STEPS  # both directions' projections, every step


def test_pruning_a_conv_channel_removes_the_recurrent_layer_input_column():
    model, x = _build("conv_gru")
    space = PruningSpace(model, x)
    assert [(g.name, g.size) for g in space.groups] == [
        ("front.0", 5), ("front.3", 6), ("rnn", 7)]
    mask = space.mask_from_counts([5, 4, 7])
    pruned = compact(model, space, mask)
    assert pruned.rnn.input_size == 4
    layers = {(layer["name"], layer["side"]): (layer["kept"], layer["total"])
              for layer in space.describe(mask)["groups"][1]["layers"]}
    assert layers[("rnn", "in")] == (4, 6)


def test_recurrent_macs_follow_the_published_formula():
    # GRU: steps x gates x (input + hidden) x hidden, then the head reading every step
    model = RecurrentClassifier((1, 40), 10, cell="gru", hidden=64)
    space = PruningSpace(model.eval(), torch.randn(2, 1, 40))
    assert space.dense_macs == 40 * 3 * (1 + 64) * 64 + 40 * 64 * 10
    # LSTM with a projection: the recurrent weight reads the projected units, plus the
    # projection itself
    model = RecurrentClassifier((1, 40), 10, cell="lstm", hidden=32, proj_size=8,
                                readout="last")
    space = PruningSpace(model.eval(), torch.randn(2, 1, 40))
    assert space.dense_macs == 40 * (4 * (1 + 8) * 32 + 32 * 8) + 8 * 10


def test_recurrent_importance_reads_the_real_weights():
    model, x = _build("gru")
    space = PruningSpace(model, x, importance_p=1)
    weak = 3
    with torch.no_grad():
        for name, param in model.rnn.named_parameters():
            if name.startswith("weight_ih") or name.startswith("weight_hh"):
                param[weak::7] *= 1e-3  # unit 3's rows in every gate block
    ranked = PruningSpace(model, x, importance_p=1).groups[0].importance
    assert int(np.argmin(ranked)) == weak
    assert not np.allclose(ranked, space.groups[0].importance)


def test_unstructured_pruning_prunes_each_recurrent_weight():
    model, x = _build("lstm_projection_2_layers_bidirectional")
    space = UnstructuredSpace(model, x)
    names = [g.name for g in space.groups]
    assert "rnn.weight_hr_l1_reverse" in names and "head" in names
    assert space.dense_macs == counted_macs(model, x)
    half = space.mask_from_ratios([0.5] * space.num_units)
    assert space.macs_ratio(half) == pytest.approx(0.5, abs=0.01)
    assert set(space.weight_masks(half)) == {g.param for g in space.groups}


class WithAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(2, 8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.up = nn.ConvTranspose1d(8, 4, 3)
        self.hidden = nn.Linear(4 * (STEPS + 2), 16)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        h = self.embed(x.transpose(1, 2))
        h, _ = self.attn(h, h, h)
        return self.head(torch.relu(self.hidden(self.up(h.transpose(1, 2)).flatten(1))))


class HandWritten(nn.Module):
    """A linear map written with its own ``nn.Parameter``, reading pruned units."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 8)
        self.weight = nn.Parameter(torch.randn(6, 8))
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        return self.head(torch.relu(torch.relu(self.a(x)) @ self.weight.T))


class CellLoop(nn.Module):
    """A GRU cell stepped by hand over conv channels."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3)
        self.cell = nn.GRUCell(4, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        steps = self.conv(x).transpose(1, 2)
        h = steps.new_zeros(steps.shape[0], 8)
        for t in range(steps.shape[1]):
            h = self.cell(steps[:, t], h)
        return self.head(h)


@pytest.mark.parametrize("model, x, listing", [
    (HandWritten(), torch.randn(2, 4), r"\(the model itself\) \(HandWritten\)"),
    (CellLoop(), torch.randn(2, 1, 10), r"cell \(GRUCell\)"),
])
def test_layers_of_unknown_type_that_pruned_units_reach_are_named(model, x, listing):
    with pytest.raises(UnsupportedLayerError,
                       match=f"cannot count or prune these layers: {listing}. It knows Conv1d, "
                             r".*MultiheadAttention.*pruning.ignored_layers"):
        PruningSpace(model.eval(), x)


def test_a_layer_of_unknown_type_no_group_reaches_counts_as_measured():
    """The transposed conv reads an attention module's embedding (kept whole) and its
    channels are no root's: it is kept whole, its MACs counted as torch's counter counts."""
    model = WithAttention().eval()
    x = torch.randn(2, 2, STEPS)
    space = PruningSpace(model, x)
    assert [(g.name, g.kind) for g in space.groups] == [("attn", "head"), ("hidden", "neuron")]
    assert space.dense_macs == counted_macs(model, x)  # need_weights=True: products counted
    assert UnstructuredSpace(model, x).dense_macs == space.dense_macs


def test_ignored_unknown_layers_count_as_measured():
    model = WithAttention().eval()
    x = torch.randn(2, 2, STEPS)
    space = PruningSpace(model, x, ignored_layers=["embed", "attn", "up"])
    assert [g.name for g in space.groups] == ["hidden"]
    assert space.dense_macs == counted_macs(model, x)  # attention's MACs included, not zero
    fixed = space.dense_macs - 16 * 4 * (STEPS + 2) - 16 * 3
    assert space.macs(space.mask_from_counts([8])) == fixed + 8 * 4 * (STEPS + 2) + 8 * 3


class ScrambledFeed(nn.Module):
    """A conv feeding a GRU through ``reshape`` instead of ``transpose``: each step then mixes
    positions of several channels, which no channel-by-channel pruning can follow."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 4, 3, padding=1)
        self.rnn = nn.GRU(4, 5, batch_first=True)
        self.head = nn.Linear(5, 3)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        steps, _ = self.rnn(h.reshape(h.shape[0], h.shape[2], h.shape[1]))
        return self.head(steps[:, -1])


def test_a_model_whose_compaction_would_differ_from_its_masking_is_refused():
    torch.manual_seed(0)
    model = ScrambledFeed().eval()
    with pytest.raises(UnsupportedLayerError, match="removing units does not compute what "
                                                    "masking them does"):
        make_space(model, torch.randn(3, 2, STEPS))
    make_space(CASES["conv_gru"]().eval(), torch.randn(3, 2, STEPS))  # the right way passes


def test_an_lstm_may_keep_more_projected_units_than_hidden_units():
    model, x = _build("lstm_projection_2_layers_bidirectional")
    space = PruningSpace(model, x, min_keep=0.1)
    mask = space.mask_from_counts([2, 4])  # torch builds no LSTM with proj_size >= hidden_size
    pruned = assert_compacts_exactly(model, space, mask, x, rtol=1e-5)
    assert (pruned.rnn.hidden_size, pruned.rnn.proj_size) == (2, 4)


def test_an_lstm_keeping_as_many_projected_as_hidden_units_gets_an_idle_unit():
    # torch's kernel reads proj_size == hidden_size as "no projection" and fails
    model, x = _build("lstm_projection_2_layers_bidirectional")
    space = PruningSpace(model, x, min_keep=0.1)
    mask = space.mask_from_counts([3, 3])
    # exact, with the idle unit counted in its MACs and parameters
    pruned = assert_compacts_exactly(model, space, mask, x, rtol=1e-5)
    assert (pruned.rnn.hidden_size, pruned.rnn.proj_size) == (4, 3)
    pruned.train()(x).sum().backward()  # trains
