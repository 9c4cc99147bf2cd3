"""Searchers: each turns (space, evaluator, fitness, budget) into a SearchResult."""

from evoprune.search.base import BestFeasible, SearchResult
from evoprune.search.ga import GeneticSearch
from evoprune.search.nsga2 import NSGA2Search

__all__ = ["BestFeasible", "GeneticSearch", "NSGA2Search", "SearchResult"]
