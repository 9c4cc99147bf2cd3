"""The Ray evaluator backend returns exactly what the serial one does."""

import sys

import numpy as np
import pytest
import torch

from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.fitness import constrained
from evoprune.evaluate.ray_backend import split_contiguous
from evoprune.pruning.space import PruningSpace
from evoprune.search.ga import GeneticSearch
from evoprune.search.loop import run_search

pytestmark = pytest.mark.slow  # a local Ray cluster per test


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray for the whole module (evaluators join it and leave it running)."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def one_thread():
    """The serial side on one torch thread, like each Ray worker (same summation order)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def space(trained_residual, synthetic_data):
    return PruningSpace(trained_residual, synthetic_data.train.x[:2])


def random_masks(space, n, keep=0.5, seed=0):
    rng = np.random.default_rng(seed)
    return [space.repair(rng.random(space.num_units) < keep) for _ in range(n)]


@pytest.mark.parametrize("recalibration, cache", [(0, True), (2, False)])
def test_ray_returns_the_serial_objectives_in_order(
    ray_session, one_thread, trained_residual, synthetic_data, space, recalibration, cache
):
    settings = dict(calibration=synthetic_data.train, bn_recalibration_batches=recalibration,
                    calibration_batch_size=64, cache=cache)
    masks = random_masks(space, 7)
    batch = masks + [masks[2].copy(), space.full_mask()]  # a repeat: one evaluation or a hit
    serial = Evaluator(trained_residual, space, synthetic_data.val, **settings)
    expected = serial.evaluate(batch) + serial.evaluate(masks[:1]) + serial.evaluate([])
    with Evaluator(trained_residual, space, synthetic_data.val, backend="ray", workers=2,
                   **settings) as evaluator:
        assert len(evaluator.calibration_batches) == recalibration
        got = evaluator.evaluate(batch) + evaluator.evaluate(masks[:1]) + evaluator.evaluate([])
        assert got == expected
        counts = (8, 10) if cache else (10, 10)
        assert (evaluator.evaluations, evaluator.requests) == counts
        assert (serial.evaluations, serial.requests) == counts
        # fewer masks than workers
        assert evaluator.evaluate(masks[3:4]) == serial.evaluate(masks[3:4])
    # the evaluator joined a running Ray session: closing it stops its workers, not Ray
    assert ray_session.is_initialized()
    with pytest.raises(RuntimeError, match="closed"):
        evaluator.evaluate(masks[:1])
    evaluator.close()  # closing twice is harmless


def test_ga_finds_the_same_mask_with_both_backends(
    ray_session, one_thread, trained_residual, synthetic_data, space
):
    results = []
    for backend in ("serial", "ray"):
        with Evaluator(trained_residual, space, synthetic_data.val, backend=backend, workers=2,
                       calibration=synthetic_data.train, bn_recalibration_batches=1) as evaluator:
            search = GeneticSearch(population_size=8, generations=3, seed=5)
            results.append(run_search(search, space, evaluator, constrained, 0.4))
    serial, ray = results
    np.testing.assert_array_equal(serial.mask, ray.mask)
    assert serial.objectives == ray.objectives and serial.history == ray.history
    assert (serial.evaluations, serial.requests) == (ray.evaluations, ray.requests)


def test_more_workers_than_ray_cpus_refused(ray_session, trained_residual, synthetic_data, space):
    with pytest.raises(ValueError, match="workers=3 x worker_threads=1 needs "
                                         "3 CPUs, but the Ray cluster at .* has 2"):
        Evaluator(trained_residual, space, synthetic_data.val, backend="ray", workers=3,
                  bn_recalibration_batches=0)
    assert ray_session.is_initialized()


def test_missing_ray_says_how_to_install(monkeypatch, trained_residual, synthetic_data, space):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if not installed
    with pytest.raises(ImportError, match='needs Ray.*pip install -e ".\\[ray\\]"'):
        Evaluator(trained_residual, space, synthetic_data.val, backend="ray",
                  bn_recalibration_batches=0)
    # the serial backend never imports Ray
    assert Evaluator(trained_residual, space, synthetic_data.val,
                     bn_recalibration_batches=0).evaluate([space.full_mask()])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"backend": "dask"}, "backend must be one of \\['ray', 'serial'\\], got 'dask'"),
        ({"workers": 0}, "workers must be an integer >= 1, got 0"),
        ({"workers": 1.5}, "workers must be an integer >= 1, got 1.5"),
        ({"worker_threads": 0}, "worker_threads must be an integer >= 1, got 0"),
        ({"ray_address": ""}, "ray_address must be null .*'auto'.*, got ''"),
    ],
)
def test_bad_backend_settings(trained_residual, synthetic_data, space, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Evaluator(trained_residual, space, synthetic_data.val, **kwargs, bn_recalibration_batches=0)


def test_split_contiguous_keeps_order_and_balances():
    chunks = split_contiguous(list(range(7)), 3)
    assert chunks == [[0, 1, 2], [3, 4], [5, 6]]
    assert split_contiguous([1], 4) == [[1]] and split_contiguous([], 2) == []
