"""slimkit entry point: ``python train.py method=dp_quant model=wrn`` (see README.md)."""

import hydra
from omegaconf import DictConfig

from slimkit.cli import exit_on_user_error, run_with_clean_errors


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@exit_on_user_error
def main(cfg: DictConfig) -> float | tuple[float, ...] | None:
    """Run one job and return its objective, the value a Hydra sweeper optimises."""
    from slimkit.pipeline import run  # imported here so `--cfg job` stays fast

    return run(cfg)


if __name__ == "__main__":
    run_with_clean_errors(main)
