"""slimkit: a Hydra + Lightning harness for research on efficient neural networks.

Kept import-light on purpose: ``python train.py --cfg job`` must not pay for torch.
"""

__version__ = "0.1.0"
