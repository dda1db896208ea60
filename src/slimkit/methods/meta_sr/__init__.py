"""Meta-SR (Hu et al. 2019; docs/methods/meta_sr.md): ``method=meta_sr`` (``MetaSRRunner``) trains one network
for every scale (``MetaSRModule``) and evaluates it against bicubic (``evaluation``)."""

from slimkit.methods.meta_sr.module import MetaSRModule
from slimkit.methods.meta_sr.runner import MetaSRRunner

__all__ = ["MetaSRModule", "MetaSRRunner"]
