"""A built wheel carries the Hydra configs, so an installed (not editable) package runs."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_wheel_holds_every_config(tmp_path):
    source = tmp_path / "src"  # a copy: building writes build/ and *.egg-info beside the code
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", "outputs", "multirun", "wandb"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(tmp_path / "dist"), str(source)], check=True, timeout=600)
    [wheel] = (tmp_path / "dist").glob("evoprune-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {f"evoprune/conf/{path.relative_to(REPO / 'conf').as_posix()}"
               for path in (REPO / "conf").rglob("*.yaml")}
    assert configs and configs <= names
    assert "evoprune/__main__.py" in names and "evoprune/search/loop.py" in names
