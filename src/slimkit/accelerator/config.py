"""The accelerator's build parameters (mirrored by `DpqConfig` in hardware/spinal, which generates a design per
configuration from these fields)."""

from __future__ import annotations

from dataclasses import dataclass

MODES = ("mac", "centroid")


def _power_of_two(value: int) -> bool:
    return value >= 1 and value & (value - 1) == 0


@dataclass(frozen=True)
class ArrayConfig:
    """One build of the accelerator: a ``rows`` x ``cols`` array and its word widths."""

    rows: int = 4  # output rows per tile
    cols: int = 4  # weights per row consumed per cycle
    index_bits: int = 4  # log2 of the codebook size
    codebook_bits: int = 8
    act_bits: int = 8
    acc_bits: int = 32
    index_depth: int = 1024  # index memory words (tiles)
    column_tiles: int = 64  # largest columns / cols
    shape_bits: int = 16  # width of the rows / columns / vectors ports
    mode: str = "mac"  # "mac": a multiplier per weight; "centroid": centroid accumulation (ROWS multipliers)

    def __post_init__(self) -> None:
        if not (_power_of_two(self.rows) and _power_of_two(self.cols)):
            raise ValueError(f"rows and cols must be powers of two, got {self.rows} x {self.cols}")
        if not 1 <= self.index_bits <= 8:
            raise ValueError(f"index_bits must be in 1..8, got {self.index_bits}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.acc_bits <= self.codebook_bits + self.act_bits:
            raise ValueError("acc_bits must exceed codebook_bits + act_bits")
        if self.column_tiles < 2 or self.index_depth < 2:
            sizes = f"{self.column_tiles}, {self.index_depth}"
            raise ValueError(f"column_tiles and index_depth must be at least 2, got {sizes}")
        if self.column_tiles > 2**self.shape_bits:
            limit = 2**self.shape_bits
            raise ValueError(f"column_tiles must be at most 2^shape_bits ({limit}), got {self.column_tiles}")

    @property
    def name(self) -> str:
        widths = f"i{self.index_bits}w{self.codebook_bits}a{self.act_bits}acc{self.acc_bits}"
        memories = f"d{self.index_depth}t{self.column_tiles}s{self.shape_bits}"
        return f"{self.mode}_r{self.rows}c{self.cols}{widths}{memories}"

    @property
    def multipliers(self) -> int:
        return self.rows * self.cols if self.mode == "mac" else self.rows

    def tiles(self, rows: int, columns: int) -> tuple[int, int]:
        """(row tiles, column tiles) of a rows x columns layer."""
        return -(-rows // self.rows), -(-columns // self.cols)

    def check_layer(self, rows: int, columns: int, codebook_entries: int, vectors: int = 1) -> None:
        """Raise if a layer does not fit this build's memories, index width or shape ports."""
        row_tiles, column_tiles = self.tiles(rows, columns)
        if max(rows, columns, vectors) >= 2**self.shape_bits:
            raise ValueError(f"a {rows} x {columns} layer over {vectors} vectors needs shape_bits > {self.shape_bits}")
        if codebook_entries > 2**self.index_bits:
            raise ValueError(f"{codebook_entries} codebook entries need more than index_bits={self.index_bits}")
        if column_tiles > self.column_tiles:
            raise ValueError(f"{columns} columns need {column_tiles} column tiles, the build has {self.column_tiles}")
        if row_tiles * column_tiles > self.index_depth:
            raise ValueError(f"{row_tiles * column_tiles} index words needed, the build has {self.index_depth}")
