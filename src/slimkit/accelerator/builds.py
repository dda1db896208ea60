"""Named builds of the accelerator that the synthesis script reports and the README tables use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slimkit.accelerator.config import ArrayConfig
from slimkit.errors import ConfigError

# index_bits=5: a pruned 4-bit layer has 16 centroids plus the zero its pruned weights point at.
# up5k_*: fits an iCE40 UP5K (8 DSPs, 30 block RAMs): 8 multipliers, 24-bit accumulators, 12-bit shapes
# (layers up to 4095 rows / columns / vectors, 8192 weights); the 8x8 builds hold any WRN-16-4 layer (up to
# 2^20 weights, 4096 columns) and are for larger FPGAs (Xilinx 7-series numbers).
UP5K = {
    "rows": 2,
    "cols": 4,
    "index_bits": 5,
    "acc_bits": 24,
    "index_depth": 1024,
    "column_tiles": 64,
    "shape_bits": 12,
}
LARGE = {"rows": 8, "cols": 8, "index_bits": 5, "acc_bits": 32, "index_depth": 16384, "column_tiles": 512}

BUILDS: dict[str, ArrayConfig] = {
    "up5k_mac_2x4": ArrayConfig(**UP5K),
    "up5k_centroid_2x4": ArrayConfig(**UP5K, mode="centroid"),
    "mac_8x8": ArrayConfig(**LARGE),
    "centroid_8x8": ArrayConfig(**LARGE, mode="centroid"),
}
FITS_UP5K = ("up5k_mac_2x4", "up5k_centroid_2x4")


def resolve_build(build: str | Mapping[str, Any] | ArrayConfig) -> tuple[str, ArrayConfig]:
    """(name, configuration) of a named build or of a custom one given as ArrayConfig's fields; ConfigError in
    one line for an unknown name or a field out of range."""
    if isinstance(build, ArrayConfig):
        return build.name, build
    if isinstance(build, str):
        if build not in BUILDS:
            choices = ", ".join(BUILDS)
            raise ConfigError(f"unknown accelerator build {build!r}: choose from {choices} or give its fields")
        return build, BUILDS[build]
    try:
        config = ArrayConfig(**dict(build))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"accelerator build {dict(build)}: {error}") from None
    return config.name, config
