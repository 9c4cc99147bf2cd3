"""Every config file composes, and what it describes instantiates."""

from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException, InstantiationException

from evoprune.__main__ import CONFIG_DIR
from evoprune.config.checks import make_strategy, search_enabled, search_limits
from tests.helpers import compose_config, data_and_model

GROUPS = ["data", "task", "model", "search", "fitness", "pruning", "logger", "experiment",
          "debug"]
PAIRS = {"mnist1d": ["cnn1d", "mlp", "resnet", "gru", "lstm", "cnn_gru"],
         "digits": ["cnn2d", "mlp", "resnet"], "synthetic": ["cnn1d", "mlp"],
         "cifar10": ["resnet20", "resnet56", "vgg16", "mobilenet_v2", "cnn2d"],
         "image_folder": ["cnn2d", "resnet"], "diabetes": ["mlp"], "multilabel": ["mlp", "cnn1d"]}
# the task each dataset's labels need (classification otherwise)
TASKS = {"diabetes": "regression", "multilabel": "multilabel"}


def options(group):
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


def test_every_group_has_files():
    for group in GROUPS:
        assert options(group), group
    assert set(options("data")) == set(PAIRS) | {"custom"}  # custom: the user's, no default


def files_for(data: str, folder: Path) -> list[str]:
    """Overrides that give ``data`` what it reads: CIFAR-10 and the image folder get tiny
    files in their formats."""
    if data == "image_folder":
        from tests.data.test_image_folder import write_images

        return [f"data.root={write_images(folder / 'images')}"]
    if data != "cifar10":
        return []
    from tests.data.test_cifar10 import write_cifar

    return [f"data.root={write_cifar(folder / 'cifar')}"]


# mnist1d generates its data (about 10 s)
@pytest.mark.parametrize("data", [pytest.param(name, marks=pytest.mark.slow) if name == "mnist1d"
                                  else name for name in sorted(PAIRS)])
def test_data_and_models_instantiate(data, tmp_path):
    files = files_for(data, tmp_path)
    for model_name in PAIRS[data]:
        cfg = compose_config([f"data={data}", f"model={model_name}",
                              f"task={TASKS.get(data, 'classification')}", *files])
        splits, model = data_and_model(cfg)
        assert model(splits.train.inputs(3)).shape == (3, splits.num_classes)
        assert splits.task.name == TASKS.get(data, "classification")


def test_cnn1d_refuses_image_data():
    cfg = compose_config(["data=digits", "model=cnn1d"])
    with pytest.raises(InstantiationException, match="CNN1d expects input_shape"):
        data_and_model(cfg)


@pytest.mark.parametrize("search", [s for s in options("search") if s != "none"])
def test_search_configs_instantiate(search):
    cfg = compose_config([f"search={search}"])
    searcher = make_strategy(cfg)
    assert search_limits(cfg) == {"max_evaluations": None, "max_seconds": None}
    assert searcher.name and (callable(getattr(searcher, "ask", None))
                              or callable(getattr(searcher, "drive", None)))


def test_search_none_leaves_no_searcher():
    assert compose_config(["search=none"]).search is None


@pytest.mark.parametrize("fitness", options("fitness"))
def test_fitness_configs_instantiate(fitness):
    from evoprune.evaluate.evaluator import Objectives
    from evoprune.run import make_fitness, search_cost

    cfg = compose_config([f"fitness={fitness}"])
    assert search_cost(cfg) == "macs"  # every fitness has a cost, MACs unless told otherwise
    function = make_fitness(cfg.fitness)  # as run.py does: `cost` is no argument of it
    value = function(Objectives(val_acc=0.8, macs=10, params=1, macs_ratio=0.4), 0.5)
    assert 0.0 < value <= 0.8
    config = compose_config([f"fitness={fitness}", "evaluator.cost=latency"])
    assert search_cost(config) == "latency"


@pytest.mark.parametrize("logger", options("logger"))
def test_logger_configs_compose(logger):
    assert compose_config([f"logger={logger}"]).logger.kind == logger


@pytest.mark.parametrize("experiment", options("experiment"))
def test_experiments_compose_and_instantiate(experiment, tmp_path):
    files = files_for("cifar10", tmp_path) if experiment.startswith("cifar10") else []
    cfg = compose_config([f"experiment={experiment}", "debug=smoke", *files])
    # debug=smoke applies on top of any experiment, with the sizes of its searcher
    if cfg.search is not None and cfg.search.get("_target_", "").endswith("RLSearch"):
        assert cfg.search.episodes == 6
    elif cfg.search is not None:
        assert cfg.search.generations == 2
    splits, model = data_and_model(cfg)
    if search_enabled(cfg):
        make_strategy(cfg)
    with torch.no_grad():
        assert model(splits.train.x[:2]).shape[1] == splits.num_classes


def test_experiment_files_are_global_packages():
    for path in (Path(CONFIG_DIR) / "experiment").glob("*.yaml"):
        assert path.read_text().startswith("# @package _global_"), path.name
    for path in (Path(CONFIG_DIR) / "debug").rglob("*.yaml"):
        assert path.read_text().startswith("# @package _global_"), path.name


def test_unknown_group_option_is_refused():
    with pytest.raises(ConfigCompositionException, match="Could not find 'search/nope'"):
        compose_config(["search=nope"])


@pytest.mark.parametrize("pruning", options("pruning"))
def test_pruning_configs_build_spaces(pruning):
    from evoprune.pruning import make_space

    cfg = compose_config([f"pruning={pruning}", "data=synthetic", "model=mlp"])
    splits, model = data_and_model(cfg)
    settings = dict(cfg.pruning)
    space = make_space(model, splits.train.x[:2], **settings)
    assert space.kind == pruning and space.dense_macs > 0


def test_unknown_pruning_kind_is_refused():
    from evoprune.pruning import make_space

    with pytest.raises(ValueError, match="kind must be one of .*, got 'sparse'"):
        make_space(torch.nn.Linear(2, 2), torch.zeros(1, 2), kind="sparse")


def test_unstructured_pruning_leaves_the_search_group_alone():
    assert compose_config(["pruning=unstructured", "search=none"]).search is None
    assert compose_config(["pruning=unstructured"]).search.encoding == "auto"
