"""Searchers: each turns (space, evaluator, fitness, budget) into a SearchResult."""

from evoprune.search.base import BestFeasible, SearchResult
from evoprune.search.ga import GeneticSearch

__all__ = ["BestFeasible", "GeneticSearch", "SearchResult"]
