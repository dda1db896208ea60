"""MetaPruning (Liu et al. 2019; docs/methods/metapruning.md): ``method=metapruning`` (``MetaPruningRunner``) trains
a PruningNet (``pruningnet.PruningNet``, ``module.PruningNetModule``), searches channel widths under FLOPs
budgets (``search``) and trains the searched and uniform-width networks (``slimkit.models.channel_net``)."""

from slimkit.methods.metapruning.module import PruningNetModule, choice_for_step
from slimkit.methods.metapruning.pruningnet import DEFAULT_RATIOS, PruningNet
from slimkit.methods.metapruning.runner import MetaPruningRunner

__all__ = ["DEFAULT_RATIOS", "MetaPruningRunner", "PruningNet", "PruningNetModule", "choice_for_step"]
