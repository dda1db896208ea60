"""Generic evolutionary search with an ask/tell API (SPOS, MetaPruning, the evolution sweeper).

Standard library (and ``annotated_types``) only, on purpose: importing it must not pull in torch.
"""

from slimkit.search.candidate import Candidate
from slimkit.search.evolution import EvolutionSearch, EvolutionSearchSettings, EvolutionSettings
from slimkit.search.space import SearchSpace

__all__ = ["Candidate", "EvolutionSearch", "EvolutionSearchSettings", "EvolutionSettings", "SearchSpace"]
