"""slimkit's Slurm launcher (``hydra/launcher=slurm``): hydra-submitit-launcher plus failure handling."""
