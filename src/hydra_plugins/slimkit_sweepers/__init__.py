"""slimkit's Hydra sweepers: ``hydra/sweeper=optuna`` (current Optuna, ask/tell) and
``hydra/sweeper=evolution`` (slimkit.search). Their configs live in conf/hydra/sweeper/."""
