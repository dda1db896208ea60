"""SPOS (Guo et al. 2020; REFERENCE.md section 2): supernet training by uniform single-path sampling
(``SupernetModule``) and the in-process evolutionary search (``search.run_search``). The retrain network is
``model=shufflenet_oneshot``. Not built yet (see the SPOS issue): the `method=spos` runner and configs that
chain the stages, the search's plots and progress bar, mixed-precision search, the throughput benchmark."""

from slimkit.methods.spos.module import LinearDecayModule, SupernetModule, path_for_step
from slimkit.methods.spos.runner import SposRunner

__all__ = ["LinearDecayModule", "SposRunner", "SupernetModule", "path_for_step"]
