"""Scoring candidates: the evaluator (the only code that runs the model during search) and
the fitness functions that turn its objectives into a search signal."""

from evoprune.evaluate.evaluator import Evaluator, Objectives
from evoprune.evaluate.fitness import FITNESS_FUNCTIONS, constrained, weighted

__all__ = ["FITNESS_FUNCTIONS", "Evaluator", "Objectives", "constrained", "weighted"]
