"""Search: one driver (``loop.py``), its fidelity stage (``fidelity.py``) and the strategies
it runs (GA, NSGA-II, random, RL)."""

from evoprune.search.base import BestFeasible, SearchProblem, SearchResult
from evoprune.search.fidelity import Promotion
from evoprune.search.ga import GeneticSearch
from evoprune.search.loop import SearchDriver, run_search
from evoprune.search.nsga2 import NSGA2Search
from evoprune.search.random_search import RandomSearch

__all__ = ["BestFeasible", "GeneticSearch", "NSGA2Search", "Promotion", "RandomSearch",
           "SearchDriver", "SearchProblem", "SearchResult", "run_search"]
