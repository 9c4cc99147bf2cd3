"""Your own model and data through ``model=custom`` / ``data=custom``: found (or a message
saying how Python looks for them), given only what they take, and checked."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from evoprune.config.errors import ConfigError
from evoprune.config.targets import build, call_arguments, import_target
from tests.helpers import FAST, REPO, app_env

EXAMPLES = REPO / "experiments" / "own_model_and_data"
SMOKE = ["debug=smoke", "logger=none", "progress=false"]


@pytest.fixture
def user_code(tmp_path, monkeypatch):
    """A folder outside the repository holding the README's example files, on sys.path."""
    folder = tmp_path / "my_project"
    folder.mkdir()
    for name in ("my_models.py", "my_data.py"):
        shutil.copy(EXAMPLES / name, folder / name)
    (folder / "broken_models.py").write_text("import not_installed_package\n")
    monkeypatch.syspath_prepend(str(folder))
    return folder


def test_import_target_messages(user_code):
    assert import_target("model", "my_models.TinyNet").__name__ == "TinyNet"
    with pytest.raises(ConfigError, match="model._target_=elsewhere.Net: no module named "
                                          "'elsewhere' on Python's import path.*PYTHONPATH="):
        import_target("model", "elsewhere.Net")
    with pytest.raises(ConfigError, match="module my_models has no TinyNett"):
        import_target("model", "my_models.TinyNett")
    with pytest.raises(ConfigError, match="importing broken_models failed: No module named "
                                          "'not_installed_package'"):
        import_target("model", "broken_models.Net")
    with pytest.raises(ConfigError, match="must be a dotted path such as my_models.TinyNet"):
        import_target("model", "TinyNet")


def test_only_accepted_values_are_offered(user_code):
    _, arguments = call_arguments("model", {"_target_": "my_models.TinyNet", "width": 8},
                                  {"input_shape": [1, 32], "num_classes": 4})
    assert arguments == {"width": 8, "num_classes": 4}  # TinyNet takes no input_shape
    _, arguments = call_arguments("model", {"_target_": "evoprune.models.MLP", "num_classes": 3},
                                  {"input_shape": [1, 32], "num_classes": 4})
    assert arguments == {"num_classes": 3, "input_shape": [1, 32]}  # the config's value wins
    model = build("model", {"_target_": "my_models.TinyNet", "width": 8}, num_classes=5)
    assert model.classifier.out_features == 5


def test_keys_of_another_model_config_are_named():
    spec = {"_target_": "evoprune.models.MLP", "channels": [8], "kernel_size": 3}
    with pytest.raises(ConfigError, match="model._target_=evoprune.models.MLP does not take "
                                          "channels, kernel_size.*model=custom"):
        call_arguments("model", spec, {})


def _app(cwd: Path, *overrides: str, pythonpath: Path | None = None):
    env = app_env(cwd / "cache", pythonpath=[pythonpath] if pythonpath else [])
    return subprocess.run([sys.executable, "-m", "evoprune", *overrides, *SMOKE,
                           f"hydra.run.dir={cwd / 'run'}"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_readme_example_runs_from_outside_the_repository(user_code, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    overrides = ["model=custom", "model._target_=my_models.TinyNet", "+model.width=8",
                 "data=custom", "data._target_=my_data.load_waves", "+data.num_samples=600"]
    lost = _app(elsewhere, *overrides)  # the folder is not on the path
    assert lost.returncode == 2 and "Traceback" not in lost.stderr
    assert "no module named 'my_data' on Python's import path" in lost.stderr
    done = _app(elsewhere, *overrides, pythonpath=user_code)
    assert done.returncode == 0, done.stderr
    assert (elsewhere / "run" / "results.json").is_file()
    assert "dense: val_acc" in done.stdout


@pytest.mark.slow
def test_data_that_breaks_the_contract_is_refused(user_code, tmp_path):
    (user_code / "bad_data.py").write_text(textwrap.dedent("""
        import torch
        from evoprune.data import DataSplits, Split

        def as_dict(seed):
            return {"x": [1, 2, 3]}

        def labels_out_of_range(seed):
            split = Split(torch.zeros(8, 1, 4), torch.arange(8))
            return DataSplits(split, split, split, num_classes=4, input_shape=(1, 4), name="b")
    """))
    for loader, message in [
        ("as_dict", "error: data._target_=bad_data.as_dict returned dict, not "
                    "evoprune.data.DataSplits nor a tuple of torch Datasets, (train, test) "
                    "or (train, val, test); build DataSplits from arrays with "
                    "evoprune.data.make_splits"),
        ("labels_out_of_range", "error: data._target_=bad_data.labels_out_of_range: train "
                                "labels must be in [0, 4) for num_classes=4, found 0..7"),
    ]:
        done = _app(tmp_path, *FAST, "data=custom", f"data._target_=bad_data.{loader}",
                    pythonpath=user_code)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr.strip().startswith(message), done.stderr
