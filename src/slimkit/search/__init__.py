"""Generic evolutionary search with an ask/tell API (SPOS, MetaPruning, the evolution sweeper).

Pure standard library on purpose: importing it must not pull in torch.
"""

from slimkit.search.candidate import Candidate
from slimkit.search.evolution import EvolutionSearch, EvolutionSettings
from slimkit.search.space import SearchSpace

__all__ = ["Candidate", "EvolutionSearch", "EvolutionSettings", "SearchSpace"]
