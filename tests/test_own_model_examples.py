"""The own-model examples of experiments/own_model_and_data run as the guide says."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import app_env

EXAMPLES = Path(__file__).resolve().parents[1] / "experiments" / "own_model_and_data"


@pytest.mark.slow
def test_the_hugging_face_example_prunes_heads_end_to_end(tmp_path):
    """my_transformers.TinyViT: a ViT from transformers' config, wrapped to return logits,
    searched, fine-tuned and exported with its heads as groups."""
    pytest.importorskip("transformers")
    shutil.copy(EXAMPLES / "my_transformers.py", tmp_path / "my_transformers.py")
    run_dir = tmp_path / "run"
    process = subprocess.run(
        [sys.executable, "-m", "evoprune", "model=custom",
         "model._target_=my_transformers.TinyViT", "data=digits", "debug=smoke", "logger=none",
         "progress=false", f"hydra.run.dir={run_dir}"],
        cwd=tmp_path, env=app_env(tmp_path / "cache"), capture_output=True, text=True,
        timeout=600)
    assert process.returncode == 0, process.stderr
    mask = json.loads((run_dir / "mask_ga.json").read_text())
    kinds = {group["name"]: group["kind"] for group in mask["groups"]}
    assert kinds["vit.vit.layers.0.attention"] == "head"
    assert kinds["vit.vit.layers.0.mlp.fc1"] == "neuron"
    assert (run_dir / "model_ga.pt2").is_file()
