"""SPOS (Guo et al. 2020; REFERENCE.md section 2): supernet training by uniform single-path sampling.
The search and retrain stages and `method=spos` are not built yet (see the SPOS issue)."""

from slimkit.methods.spos.module import SupernetModule, path_for_step

__all__ = ["SupernetModule", "path_for_step"]
