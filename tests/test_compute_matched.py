"""compute_matched=true: every one-shot baseline also fine-tuned for the search's time."""

import pytest

from evoprune.report.results import RESULTS_FILE
from evoprune.run import run
from tests.helpers import FAST, compose_config


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EVOPRUNE_CACHE", str(tmp_path / "cache"))


def test_baselines_get_the_search_seconds_as_extra_epochs(tmp_path, cache):
    results = run(compose_config(FAST + ["compute_matched=true", "finetune.epochs=2",
                                         "baselines=[uniform_magnitude,gradual_magnitude]"]),
                  tmp_path / "run")
    methods = results["methods"]
    assert set(methods) == {"ga", "uniform_magnitude", "gradual_magnitude",
                            "uniform_magnitude+compute"}  # gradual trains itself: no match
    matched = methods["uniform_magnitude+compute"]["compute_matched"]
    ga = methods["ga"]
    assert matched["search_s"] == ga["search"]["wall_time_s"]
    assert matched["seconds_per_epoch"] == pytest.approx(ga["finetune_s"] / 2)
    assert matched["extra_epochs"] == round(matched["search_s"] / matched["seconds_per_epoch"])
    assert matched["epochs"] == 2 + matched["extra_epochs"]
    # the same mask as the plain baseline, fine-tuned longer
    plain = methods["uniform_magnitude"]
    assert methods["uniform_magnitude+compute"]["kept_per_group"] == plain["kept_per_group"]
    assert "finetune_s" not in methods["gradual_magnitude"]


def test_compute_matched_without_a_search_is_refused(tmp_path, cache):
    with pytest.raises(ValueError, match="compute_matched=true gives the baselines the search"):
        run(compose_config(FAST + ["compute_matched=true", "search=none"]), tmp_path / "run")
    assert not (tmp_path / "run" / RESULTS_FILE).exists()
