"""SPOS (Guo et al. 2020; docs/methods/spos.md): ``method=spos`` (``SposRunner``) trains the supernet by
uniform single-path sampling (``SupernetModule``), runs the in-process evolutionary search under cost caps
(``search.run_search``) and retrains the best architecture (``model=shufflenet_oneshot``); ``method=spos_bits``
(``MixedPrecisionRunner``) searches a bit width per layer on shared weights."""

from slimkit.methods.spos.mixed_precision_runner import MixedPrecisionRunner
from slimkit.methods.spos.module import SupernetModule, path_for_step
from slimkit.methods.spos.runner import SposRunner

__all__ = ["MixedPrecisionRunner", "SposRunner", "SupernetModule", "path_for_step"]
