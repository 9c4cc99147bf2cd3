"""Every config value is checked before any work: the message names the dotted key, the bad
value and what is allowed; nothing is trained or written."""

import subprocess
import sys

import pytest

from evoprune.config.checks import ConfigError
from evoprune.run import run
from tests.helpers import FAST, app_env, compose_config

BAD = [
    ("finetune.lr=-1", "finetune.lr must be a finite number > 0, got -1"),
    ("train.lr=-1", "train.lr must be a finite number > 0, got -1"),
    ("finetune.epochs=-1", "finetune.epochs must be an integer >= 0, got -1"),
    ("train.batch_size=0", "train.batch_size must be an integer >= 1, got 0"),
    ("finetune.weight_decay=-0.1", "finetune.weight_decay must be a finite number >= 0"),
    ("finetune.optimizer=lion", "finetune.optimizer must be one of"),
    ("search.elite=100", "search.elite must be in \\[0, population_size\\), got 100"),
    ("search.population_size=1", "search.population_size must be an integer >= 2"),
    ("search.crossover_prob=1.5", "search.crossover_prob must be a number in \\[0, 1\\], got 1.5"),
    ("search.mutation_indpb=2", "search.mutation_indpb must be a number in \\[0, 1\\], got 2"),
    ("search.tournament_size=0", "search.tournament_size must be an integer >= 1, got 0"),
    ("search=random search.samples=0", "search.samples must be an integer >= 1, got 0"),
    ("search=rl search.noise_decay=0", "search.noise_decay must be a number in \\(0, 1\\], got 0"),
    ("search=rl search.envs=1 search.episodes=0",
     "search.episodes must be an integer >= 1, got 0"),
    ("search=rl search.envs=3 search.episodes=10",
     "search.episodes must be a multiple of envs=3 \\(episodes run 3 at a time\\), got 10"),
    ("search=rl search.actor_learning_rate=0",
     "search.actor_learning_rate must be a finite number > 0, got 0"),
    ("evaluator.batch_size=0", "evaluator.batch_size must be an integer >= 1, got 0"),
    ("evaluator.bn_recalibration_batches=-1",
     "evaluator.bn_recalibration_batches must be an integer >= 0, got -1"),
    ("evaluator.val_samples=0", "evaluator.val_samples must be an integer >= 1 or null, got 0"),
    ("latency.warmup=-1", "latency.warmup must be an integer >= 0, got -1"),
    ("checkpoint.every=-1", "checkpoint.every must be an integer >= 0, got -1"),
    ("checkpoint.every_episodes=-2", "checkpoint.every_episodes must be an integer >= 0"),
    ("distill.alpha=2", "distill.alpha must be a number in \\[0, 1\\], got 2"),
    ("distill.temperature=0", "distill.temperature must be a finite number > 0, got 0"),
    ("gradual.steps=0", "gradual.steps must be an integer >= 1, got 0"),
    ("selection.finalists=0", "selection.finalists must be an integer >= 1, got 0"),
    ("proxy.epochs=-1", "proxy.epochs must be an integer >= 0 or auto, got -1"),
    ("proxy.epochs=fast", "proxy.epochs must be an integer >= 0 or auto, got .fast."),
    ("proxy.samples=0", "proxy.samples must be an integer >= 1 or null, got 0"),
    ("proxy.steps=0", "proxy.steps must be an integer >= 1 or null, got 0"),
    ("proxy.epochs=3", "proxy.epochs=3 has no effect while steps=\\d+ sets the brief fine-tune"),
    ("proxy.steps=8 proxy.samples=100", "proxy.steps=8 cannot go with samples=100 .*: set one"),
    ("proxy.promote=0", "proxy.promote must be a number in \\(0, 1\\], got 0"),
    ("search.max_evaluations=0", "search.max_evaluations must be an integer >= 1 or null"),
    ("search.max_seconds=-5", "search.max_seconds must be a finite number > 0, got -5"),
    ("sensitivity.ratios=[2]", "sensitivity.ratios must each be a keep ratio in \\(0, 1\\]"),
    ("pruning.min_keep=0", "pruning.min_keep must be a number in \\(0, 1\\], got 0"),
    ("pruning.importance_p=3", "pruning.importance_p must be 1 \\(L1\\) or 2 \\(L2\\), got 3"),
    ("pruning=unstructured pruning.min_density=2",
     "pruning.min_density must be a number in \\(0, 1\\], got 2"),
    ("data.num_samples=3", "data.num_samples must be >= 20 \\(5 per class\\)"),
    ("data.val_fraction=1.5", "data.val_fraction must be a number in \\(0, 1\\), got 1.5"),
    ("data.noise=-1", "data.noise must be a finite number >= 0, got -1"),
    ("fitness.penalty=-1", "fitness.penalty must be a finite number >= 0, got -1"),
    ("fitness=weighted fitness.weight=-1", "fitness.weight must be a finite number >= 0"),
    ("model.hidden=[0]", "model: MLP hidden sizes must be positive integers, got \\[0\\]"),
    ("threads=-1", "threads must be an integer >= 0, got -1"),
    ("seed=abc", "seed must be an integer, got 'abc'"),
    ("progress=maybe", "progress must be true or false, got 'maybe'"),
    ("baselines=some", "baselines must be one of \\['default', 'all'\\] or a list"),
    ("search=rl pruning=unstructured", "search=rl needs pruning=structured"),
    ("pruning=unstructured search.encoding=mask", "search.encoding=mask needs pruning=structured"),
    ("search.population_size=32.5", "search.population_size must be an integer >= 2, got 32.5"),
    ("search.generations=2.5", "search.generations must be an integer >= 0, got 2.5"),
    ("search=rl search.batch_size=1.5", "search.batch_size must be an integer >= 1, got 1.5"),
    ("search=rl search.net_arch=[a]", "search.net_arch must list layer sizes"),
    ("search._target_=nowhere.Search", "search: Error loading 'nowhere.Search'"),
    ("fitness.penalty=nan", "fitness.penalty must be a finite number >= 0, got nan"),
    ("fitness=weighted fitness.weight=abc", "fitness.weight must be a finite number >= 0"),
    ("logger=wandb logger.mode=banana", "logger.mode must be one of"),
    ("logger=wandb logger.tags=abc", "logger.tags must be a list of strings, got 'abc'"),
    ("distill.enabled=maybe", "distill.enabled must be true or false, got 'maybe'"),
    ("cache_dir=null", "cache_dir must be a directory path, got None"),
    ("weights=/nonexistent/w.pt", "weights=/nonexistent/w.pt: no such file"),
]


@pytest.mark.parametrize("override, message", BAD, ids=[o for o, _ in BAD])
def test_bad_value_is_refused_under_its_dotted_key_before_any_work(
        override, message, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("EVOPRUNE_CACHE", str(cache))
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=message):
        run(compose_config(FAST + override.split()), out)
    assert not out.exists() and not cache.exists()  # no run dir, no dense model trained


@pytest.mark.slow
def test_the_app_prints_one_line_and_exits_2_without_a_traceback(tmp_path):
    run_dir = tmp_path / "run"
    process = subprocess.run(
        [sys.executable, "-m", "evoprune", "finetune.lr=-1", "logger=none",
         f"hydra.run.dir={run_dir}"],
        cwd=tmp_path, env=app_env(tmp_path / "cache"), capture_output=True, text=True,
        timeout=300)
    assert process.returncode == 2
    assert process.stderr.strip() == "error: finetune.lr must be a finite number > 0, got -1"
    assert "Traceback" not in process.stdout + process.stderr
    assert not (run_dir / "results.json").exists() and not (tmp_path / "cache").exists()


@pytest.mark.slow
def test_the_app_names_the_new_key_of_a_moved_one(tmp_path):
    process = subprocess.run([sys.executable, "-m", "evoprune", "fitness.cost=latency"],
                             cwd=tmp_path, env=app_env(tmp_path / "cache"), capture_output=True,
                             text=True, timeout=300)
    assert process.returncode == 2 and process.stdout == ""
    assert process.stderr.splitlines() == [
        "error: fitness.cost is now evaluator.cost: use evaluator.cost=latency"]
