"""Baselines at the search's budget, registered once in :mod:`evoprune.baselines.registry`."""
