import json
import random

import numpy as np
import pytest
import torch

from evoprune.infra.checkpoint import (
    CheckpointError,
    SearchCheckpoint,
    config_differences,
    load_checkpoint,
    restore_rng,
    rng_state,
    start_run,
)


class Arbitrary:
    """Something that only a full unpickler could rebuild."""


def test_plain_state_round_trips(tmp_path):
    checkpoint = SearchCheckpoint(tmp_path / "search.pt", resume=True)
    state = {"generation": 3, "mask": torch.tensor([True, False]), "key": b"\x01\x02",
             "rows": [{"gen": 0, "fit": 0.5}], "rng": random.getstate()}
    checkpoint.save("ga", state)
    loaded = checkpoint.load("ga")
    assert loaded["generation"] == 3 and loaded["key"] == b"\x01\x02"
    assert loaded["rows"] == state["rows"] and loaded["rng"] == state["rng"]
    assert torch.equal(loaded["mask"], state["mask"])
    assert [p.name for p in tmp_path.iterdir()] == ["search.pt"]  # no temp file left


def test_not_resuming_loads_nothing(tmp_path):
    checkpoint = SearchCheckpoint(tmp_path / "search.pt")
    checkpoint.save("ga", {"generation": 1})
    assert checkpoint.load("ga") is None


def test_arbitrary_pickles_are_refused_not_run(tmp_path):
    path = tmp_path / "search.pt"
    torch.save({"format": 1, "searcher": "ga", "state": Arbitrary()}, path)
    with pytest.raises(CheckpointError, match="refuses to unpickle") as refused:
        SearchCheckpoint(path, resume=True).load("ga")
    assert "weights_only" not in str(refused.value) and "\x1b" not in str(refused.value)


def test_corrupt_and_foreign_files_are_refused(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt.pt.*corrupt"):
        load_checkpoint(corrupt)
    truncated = tmp_path / "truncated.pt"
    torch.save({"format": 1, "searcher": "ga", "state": {"x": torch.zeros(1000)}}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:500])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        SearchCheckpoint(truncated, resume=True).load("ga")
    foreign = tmp_path / "weights.pt"
    torch.save({"fc.weight": torch.zeros(2)}, foreign)  # a state dict, not a search state
    with pytest.raises(CheckpointError, match="not an evoprune search checkpoint"):
        SearchCheckpoint(foreign, resume=True).load("ga")


@pytest.mark.parametrize("every", [-1, 1.5, True])
def test_bad_interval_is_refused(tmp_path, every):
    with pytest.raises(ValueError, match="every must be an integer >= 0"):
        SearchCheckpoint(tmp_path / "s.pt", every=every)


def test_due_every_n_and_at_the_end(tmp_path):
    checkpoint = SearchCheckpoint(tmp_path / "s.pt", every=2, every_episodes=0)
    assert [g for g in range(6) if checkpoint.due(g, last=g == 5)] == [1, 3, 5]
    assert not SearchCheckpoint(tmp_path / "s.pt", every=0).due(9, last=True)  # 0: never


def test_rng_states_round_trip():
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    state = rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    restore_rng(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_new_run_records_config_and_drops_an_old_search_state(tmp_path):
    stale = tmp_path / "checkpoint" / "search.pt"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    path = start_run(tmp_path, {"budget": 0.5}, resume=False)
    assert path == stale and not stale.exists()
    assert json.loads((tmp_path / "checkpoint" / "config.json").read_text()) == {"budget": 0.5}


def test_resume_needs_a_recorded_run(tmp_path):
    with pytest.raises(CheckpointError, match="resume=true but .* holds no checkpoint"):
        start_run(tmp_path, {"budget": 0.5}, resume=True)


def test_resume_with_another_config_shows_the_difference(tmp_path):
    start_run(tmp_path, {"budget": 0.5, "search": {"generations": 20}, "resume": False},
              resume=False)
    with pytest.raises(CheckpointError) as error:
        start_run(tmp_path, {"budget": 0.25, "search": {"generations": 20}, "resume": True},
                  resume=True)
    assert "budget: 0.5 -> 0.25" in str(error.value) and "resume:" not in str(error.value)
    # same config (apart from resume, progress and logger): accepted
    start_run(tmp_path, {"budget": 0.5, "search": {"generations": 20}, "resume": True},
              resume=True)


def test_where_masks_are_scored_may_change_on_resume():
    saved = {"evaluator": {"backend": "serial", "workers": 2, "val_samples": None},
             "cache_dir": "/a"}
    current = {"evaluator": {"backend": "ray", "workers": 8, "val_samples": 100},
               "cache_dir": "/b"}
    assert config_differences(saved, current) == ["  evaluator.val_samples: None -> 100"]


def test_config_differences_names_dotted_keys():
    saved = {"search": {"generations": 20, "elite": 2}, "logger": {"kind": "wandb"}}
    current = {"search": {"generations": 30}, "logger": {"kind": "none"}}
    assert config_differences(saved, current) == [
        "  search.elite: 2 -> '<absent>'", "  search.generations: 20 -> 30",
    ]
