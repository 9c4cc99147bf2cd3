"""The look before a run: groups, their coupled layers and MACs shares, layers kept whole."""

import pytest
import torch

import evoprune
from evoprune.models import CNN1d, ResNet
from evoprune.pruning import make_space
from evoprune.pruning.inspection import inspect_space


def test_each_group_lists_its_size_coupled_layers_and_macs_share():
    model, x = CNN1d((1, 40), 10), torch.randn(2, 1, 40)
    found = evoprune.inspect(model, x)
    space = make_space(model, x)
    assert [g.name for g in found.groups] == [g.name for g in space.groups]
    assert [g.units for g in found.groups] == [g.size for g in space.groups]
    first = found.groups[0]
    assert first.name == "features.0" and "features.1" in first.coupled  # its BatchNorm
    assert "features.4" in first.coupled  # the next conv reads its channels
    # the share is what dropping the group's units removes, by the space's own cost model
    mask = space.full_mask()
    mask[space.group_slice(space.groups[0])] = False
    assert first.macs_share == pytest.approx(1 - space.macs(mask) / space.dense_macs)
    assert all(0 < g.macs_share <= 1 for g in found.groups)
    assert found.kept == () and found.dense_macs == space.dense_macs
    assert {g.step for g in found.groups} == {1}
    rounded = evoprune.inspect(model, x, round_to=8)
    assert [g.step for g in rounded.groups] == [8] * 4
    assert [g.min_keep for g in rounded.groups] == [8, 8, 8, 16]


def test_ignored_layers_and_what_they_cut_off_are_listed_as_kept_whole_with_why():
    found = evoprune.inspect(CNN1d((1, 40), 10), torch.randn(2, 1, 40),
                             ignored_layers=["features.4"])
    why = {layer.name: layer.reason for layer in found.kept}
    assert why["features.4"] == "listed in pruning.ignored_layers"
    assert "feed a layer kept whole" in why["features.0"]  # its channels enter features.4
    assert why["features.1"] == "no prunable group's units reach it"  # features.0's BatchNorm
    assert "features.0" not in [g.name for g in found.groups]
    assert found.fixed_macs_share > 0  # features.4's MACs depend on no group now


def test_blocks_show_as_one_group_of_removable_blocks():
    model, x = ResNet((1, 40), 10), torch.randn(2, 1, 40)
    found = inspect_space(model, make_space(model, x, granularity="both"))
    [depth] = [g for g in found.groups if g.kind == "block"]
    assert depth.units == len(depth.coupled) and all(c.startswith("stages.") for c in depth.coupled)


def test_the_printed_tables_name_every_group_and_the_totals():
    text = str(evoprune.inspect(CNN1d((1, 40), 10), torch.randn(2, 1, 40)))
    assert "CNN1d: 4 prunable groups, 288 units, 499,200 MACs" in text
    assert "classifier.1" in text and "kept whole: no layer with parameters" in text


def test_a_model_evoprune_cannot_prune_is_refused_with_the_reason():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 4))
    with pytest.raises(evoprune.infra.errors.UserError, match="has no prunable layer"):
        evoprune.inspect(model, torch.randn(2, 8))


def test_unstructured_pruning_has_no_groups_to_show():
    with pytest.raises(evoprune.infra.errors.UserError, match="not pruning.kind=unstructured"):
        evoprune.inspect(CNN1d((1, 40), 10), torch.randn(2, 1, 40), kind="unstructured")


def test_a_transformer_shows_why_its_residual_stream_is_kept_whole():
    from evoprune.models import PatchTransformer

    model = PatchTransformer((1, 40), 10, width=16, heads=2, layers=1)
    found = evoprune.inspect(model, torch.randn(2, 1, 40))
    assert [(g.name, g.kind) for g in found.groups] == [("layers.0.self_attn", "head"),
                                                        ("layers.0.linear1", "neuron")]
    why = {layer.name: layer.reason for layer in found.kept}
    assert why["embed"] == ("its features reach layers.0.norm1 (LayerNorm), which normalises "
                            "over all of them: kept whole")
    assert why["head"].startswith("the output layer")
    assert "layers.0.self_attn" not in why and "layers.0.linear2" not in why
