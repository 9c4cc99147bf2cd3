"""Every searcher, stopped after a checkpoint and resumed, ends exactly where an uninterrupted
search ends: same mask, objectives, history and evaluation counts."""

import dataclasses
import random

import numpy as np
import pytest
import torch

from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.fitness import constrained
from evoprune.infra.checkpoint import SearchCheckpoint
from evoprune.pruning.space import PruningSpace
from evoprune.search.fidelity import Promotion
from evoprune.search.ga import GeneticSearch
from evoprune.search.loop import run_search
from evoprune.search.nsga2 import NSGA2Search
from evoprune.search.random_search import RandomSearch
from evoprune.search.rl import RLSearch

BUDGET = 0.4


class Interrupt(Exception):
    pass


def stop_after(rows_wanted: int):
    """A progress callback that raises once ``rows_wanted`` rows arrived (a crash mid-search)."""
    rows = []

    def callback(row):
        rows.append(row)
        if len(rows) == rows_wanted:
            raise Interrupt

    return callback


SEARCHERS = {
    "ga": lambda: GeneticSearch(population_size=6, generations=4, seed=3),
    "ga_ratios": lambda: GeneticSearch(encoding="ratios", population_size=6, generations=4,
                                       seed=3),
    "nsga2": lambda: NSGA2Search(population_size=8, generations=4, seed=3),
    "random": lambda: RandomSearch(samples=20, batch_size=4, seed=3),
    "random_mask": lambda: RandomSearch(encoding="mask", samples=20, batch_size=4, seed=3),
    # two episodes at a time; PPO checkpoints between rollouts of 16 episodes: stopped after
    # 22, it resumes from 16 (the others, stopped after 7, from 6)
    **{f"rl_{agent}": (lambda agent=agent: RLSearch(
        agent=agent, episodes=24 if agent == "ppo" else 10, warmup_episodes=4, envs=2,
        batch_size=16, net_arch=[16], seed=3)) for agent in ("ddpg", "td3", "sac", "ppo")},
}
FINALISTS = 3  # the selection's finalists are part of what a resumed search must restore
INTERRUPT_AFTER = {"rl_ppo": 22, "rl_ddpg": 7, "rl_td3": 7, "rl_sac": 7}  # rows; others 3


def fresh_evaluator(model, data):
    space = PruningSpace(model, data.train.x[:2])
    return space, Evaluator(model, space, data.val, bn_recalibration_batches=0)


def comparable(result):
    fields = dataclasses.asdict(result)
    fields.pop("wall_time_s")
    fields["mask"] = fields["mask"].tolist()
    fields["finalists"] = [(f["mask"].tolist(), f["objectives"], f["fitness"])
                           for f in fields["finalists"]]
    return fields


@pytest.mark.parametrize("name", sorted(SEARCHERS))
def test_resumed_search_equals_uninterrupted(name, tmp_path, trained_residual, synthetic_data):
    space, evaluator = fresh_evaluator(trained_residual, synthetic_data)
    expected = run_search(SEARCHERS[name](), space, evaluator, constrained, BUDGET,
                          finalists=FINALISTS)

    path = tmp_path / "search.pt"
    space, evaluator = fresh_evaluator(trained_residual, synthetic_data)
    with pytest.raises(Interrupt):
        run_search(SEARCHERS[name](), space, evaluator, constrained, BUDGET,
                   callback=stop_after(INTERRUPT_AFTER.get(name, 3)),
                   checkpoint=SearchCheckpoint(path, every_episodes=2), finalists=FINALISTS)
    assert path.exists()
    saved = SearchCheckpoint(path, resume=True).load(SEARCHERS[name]().name)
    assert 0 < len(saved["history"]) < len(expected.history)
    # a new process: fresh evaluator, and global RNGs somewhere else entirely
    random.seed(12345)
    np.random.seed(12345)
    torch.manual_seed(12345)
    space, evaluator = fresh_evaluator(trained_residual, synthetic_data)
    replayed = []
    searcher = SEARCHERS[name]()
    resumed = run_search(searcher, space, evaluator, constrained, BUDGET,
                         callback=replayed.append, checkpoint=SearchCheckpoint(path, resume=True),
                         finalists=FINALISTS)
    assert comparable(resumed) == comparable(expected)
    assert len(resumed.finalists) == FINALISTS  # kept across the interruption
    assert replayed == expected.history  # the tracker of the resumed run sees every row
    if name == "nsga2":
        reference = SEARCHERS[name]()
        uninterrupted = run_search(reference, *fresh_evaluator(trained_residual, synthetic_data),
                                   constrained, BUDGET)
        assert resumed.front == uninterrupted.front


def test_a_search_with_two_fidelities_resumes_exactly(tmp_path, trained_residual,
                                                      synthetic_data):
    calls = []

    def promotion(space):  # a pure expensive score, counted
        def expensive(mask):
            calls.append(space.key(mask))
            return float(np.mean(mask) + (space.key(mask)[0] % 7) / 100)
        return Promotion(expensive, 0.25, key=space.key)

    def run(**kwargs):
        space, evaluator = fresh_evaluator(trained_residual, synthetic_data)
        stage = promotion(space)
        result = run_search(SEARCHERS["ga"](), space, evaluator, constrained, BUDGET,
                            fidelity=stage, finalists=FINALISTS, **kwargs)
        return result, stage

    expected, stage = run()
    expected_calls, calls[:] = list(calls), []
    path = tmp_path / "search.pt"
    with pytest.raises(Interrupt):
        run(callback=stop_after(2), checkpoint=SearchCheckpoint(path))
    saved = len(SearchCheckpoint(path, resume=True).load("ga")["fidelity"]["keys"])
    before = len(calls)
    resumed, resumed_stage = run(checkpoint=SearchCheckpoint(path, resume=True))
    assert comparable(resumed) == comparable(expected)
    assert (resumed_stage.scores, resumed_stage.ceilings) == (stage.scores, stage.ceilings)
    # what the checkpoint holds is not scored again; the rest is, in the same order
    assert 0 < saved and calls[before:] == expected_calls[saved:]


def test_checkpoint_every_n_generations_and_the_last(tmp_path, trained_residual, synthetic_data):
    space, evaluator = fresh_evaluator(trained_residual, synthetic_data)
    saves = []
    checkpoint = SearchCheckpoint(tmp_path / "search.pt", every=3)
    checkpoint.save = lambda searcher, state: saves.append(state["strategy"]["generation"])
    run_search(GeneticSearch(population_size=4, generations=7, seed=0), space, evaluator,
               constrained, BUDGET, checkpoint=checkpoint)
    assert saves == [2, 5, 7]


def test_resume_without_saved_state_starts_afresh(tmp_path, trained_residual, synthetic_data):
    space, evaluator = fresh_evaluator(trained_residual, synthetic_data)
    expected = run_search(SEARCHERS["ga"](), space, evaluator, constrained, BUDGET)
    space, evaluator = fresh_evaluator(trained_residual, synthetic_data)
    result = run_search(SEARCHERS["ga"](), space, evaluator, constrained, BUDGET,
                        checkpoint=SearchCheckpoint(tmp_path / "none.pt", resume=True))
    assert comparable(result) == comparable(expected)


def test_checkpoint_of_another_searcher_is_refused(tmp_path, trained_residual, synthetic_data):
    path = tmp_path / "search.pt"
    space, evaluator = fresh_evaluator(trained_residual, synthetic_data)
    run_search(SEARCHERS["ga"](), space, evaluator, constrained, BUDGET,
               checkpoint=SearchCheckpoint(path))
    with pytest.raises(ValueError, match="holds a 'ga' search, not 'nsga2'"):
        run_search(SEARCHERS["nsga2"](), space, evaluator, constrained, BUDGET,
                   checkpoint=SearchCheckpoint(path, resume=True))


def test_rl_stopped_before_its_greedy_episode_plays_it_with_the_trained_agent(
        tmp_path, trained_residual, synthetic_data):
    def searcher():  # an actor that training moves far from where it started
        return RLSearch(episodes=24, warmup_episodes=4, envs=2, batch_size=16, net_arch=[16],
                        actor_learning_rate=1e-2, seed=3)

    space, evaluator = fresh_evaluator(trained_residual, synthetic_data)
    expected = run_search(searcher(), space, evaluator, constrained, BUDGET)
    path = tmp_path / "search.pt"
    space, evaluator = fresh_evaluator(trained_residual, synthetic_data)
    evaluate = evaluator.evaluate

    def stop_at_the_greedy_episode(masks):  # the only batch of one mask comes last
        if len(masks) == 1:
            raise Interrupt
        return evaluate(masks)

    evaluator.evaluate = stop_at_the_greedy_episode
    with pytest.raises(Interrupt):
        run_search(searcher(), space, evaluator, constrained, BUDGET,
                   checkpoint=SearchCheckpoint(path, every_episodes=2))
    space, evaluator = fresh_evaluator(trained_residual, synthetic_data)
    resumed = run_search(searcher(), space, evaluator, constrained, BUDGET,
                         checkpoint=SearchCheckpoint(path, resume=True))
    assert resumed.extra == expected.extra  # the same greedy episode: the agent was kept
    assert comparable(resumed) == comparable(expected) | {
        "evaluations": resumed.evaluations, "requests": resumed.requests}


def test_rl_with_checkpoints_off_saves_nothing(tmp_path, trained_residual, synthetic_data):
    space, evaluator = fresh_evaluator(trained_residual, synthetic_data)
    checkpoint = SearchCheckpoint(tmp_path / "search.pt", every_episodes=0)
    run_search(SEARCHERS["rl_ddpg"](), space, evaluator, constrained, BUDGET,
               checkpoint=checkpoint)
    assert not checkpoint.path.exists()


def test_latency_search_resumes_against_the_first_dense_timing(
        tmp_path, trained_residual, synthetic_data, fake_latency, monkeypatch):
    from evoprune.evaluate import evaluator as evaluator_module

    path = tmp_path / "search.pt"
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])
    first = Evaluator(trained_residual, space, synthetic_data.val, cost="latency",
                      bn_recalibration_batches=0)
    with pytest.raises(Interrupt):
        run_search(SEARCHERS["ga"](), space, first, constrained, 0.8, callback=stop_after(2),
                   checkpoint=SearchCheckpoint(path))
    # the new process's machine is twice as slow: restored ratios keep their own reference
    slower = evaluator_module.measure_latency_ms
    monkeypatch.setattr(evaluator_module, "measure_latency_ms", lambda *a, **k: 2 * slower(*a, **k))
    second = Evaluator(trained_residual, space, synthetic_data.val, cost="latency",
                       bn_recalibration_batches=0)
    assert second.dense_latency_ms == 2 * first.dense_latency_ms
    run_search(SEARCHERS["ga"](), space, second, constrained, 0.8,
               checkpoint=SearchCheckpoint(path, resume=True))
    assert second.dense_latency_ms == first.dense_latency_ms


@pytest.mark.parametrize("name", ["ga", "random"])
def test_latency_search_resumes_to_the_same_result(
        name, tmp_path, trained_residual, synthetic_data, fake_latency):
    # the starting point found by timing probes belongs to the saved state: a resumed search
    # does not time them again (counts and answer equal an uninterrupted search)
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])

    def timed():
        return Evaluator(trained_residual, space, synthetic_data.val, cost="latency",
                         bn_recalibration_batches=0)

    expected = run_search(SEARCHERS[name](), space, timed(), constrained, 0.8)
    path = tmp_path / "search.pt"
    with pytest.raises(Interrupt):
        run_search(SEARCHERS[name](), space, timed(), constrained, 0.8, callback=stop_after(2),
                   checkpoint=SearchCheckpoint(path))
    resumed = run_search(SEARCHERS[name](), space, timed(), constrained, 0.8,
                         checkpoint=SearchCheckpoint(path, resume=True))
    assert comparable(resumed) == comparable(expected)
