import pytest
import torch

from evoprune.infra.cache import CorruptCacheEntry, load_entry, save_entry, state_digest


def test_roundtrip_and_digest_sees_every_byte(tmp_path):
    state = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.tensor(3, dtype=torch.int64)}
    save_entry(tmp_path / "e.pt", state)
    loaded = load_entry(tmp_path / "e.pt")
    assert set(loaded) == {"a", "b"} and all(torch.equal(loaded[k], state[k]) for k in state)
    changed = {**state, "a": state["a"].clone()}
    changed["a"][1, 2] = 5.0000005
    assert state_digest(changed) != state_digest(state)
    assert state_digest({"a": state["a"].reshape(3, 2), "b": state["b"]}) != state_digest(state)


def test_a_changed_tensor_is_refused(tmp_path):
    path = tmp_path / "e.pt"
    save_entry(path, {"w": torch.ones(1000)})
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["w"][7] = 2.0
    torch.save(payload, path)
    with pytest.raises(CorruptCacheEntry, match="does not match its checksum"):
        load_entry(path)


def test_plain_state_dicts_and_garbage_are_refused(tmp_path):
    torch.save({"w": torch.ones(3)}, tmp_path / "plain.pt")
    with pytest.raises(CorruptCacheEntry, match="not a checksummed cache entry"):
        load_entry(tmp_path / "plain.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CorruptCacheEntry, match="cannot load checkpoint"):
        load_entry(tmp_path / "junk.pt")
