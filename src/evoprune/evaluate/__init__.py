"""Scoring candidates: the evaluator (the only code that runs the model during search), the
fitness functions that turn its objectives into a search signal, and latency: measured in
torch or ONNX Runtime, or read off a per-layer table."""

from evoprune.evaluate.evaluator import Evaluator, Objectives
from evoprune.evaluate.fitness import FITNESS_FUNCTIONS, constrained, weighted
from evoprune.evaluate.latency import LatencySettings, measure_latency_ms
from evoprune.evaluate.latency_table import LatencyTable

__all__ = ["FITNESS_FUNCTIONS", "Evaluator", "LatencySettings", "LatencyTable", "Objectives",
           "constrained", "measure_latency_ms", "weighted"]
