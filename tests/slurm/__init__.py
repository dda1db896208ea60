"""Slurm tests. A package, so that its conftest.py is imported as slurm.conftest and does not shadow
tests/conftest.py, which the other test modules import as `conftest`."""
