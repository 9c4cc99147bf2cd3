"""A built wheel carries the Hydra configs, so an installed (not editable) package runs."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.helpers import REPO

# what the wheel is built from: the package, its configs and its build files, nothing else
PACKAGE_FILES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "src", "conf")


@pytest.mark.slow
def test_wheel_holds_every_config(tmp_path):
    source = tmp_path / "src"  # a copy: building writes build/ and *.egg-info beside the code
    source.mkdir()
    for name in PACKAGE_FILES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(path, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(tmp_path / "dist"), str(source)], check=True, timeout=600)
    [wheel] = (tmp_path / "dist").glob("evoprune-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {f"evoprune/conf/{path.relative_to(REPO / 'conf').as_posix()}"
               for path in (REPO / "conf").rglob("*.yaml")}
    assert configs and configs <= names
    assert "evoprune/__main__.py" in names and "evoprune/search/loop.py" in names
    assert not any(name.startswith(("tests/", "experiments/")) for name in names)


@pytest.mark.slow
def test_a_checkout_named_evoprune_beside_a_script_is_not_taken_for_the_package(tmp_path):
    """A clone in a folder named ``evoprune``, with a script beside it: ``import evoprune``
    still finds the installed package (src layout), not the clone as a namespace package."""
    (tmp_path / "evoprune").symlink_to(REPO, target_is_directory=True)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", "import evoprune; print(evoprune.__file__); "
                           "print(callable(evoprune.load_pruned))"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    path, loadable = done.stdout.split()
    assert path.endswith(os.path.join("evoprune", "__init__.py")) and loadable == "True"
