"""Plots of an evolutionary search's history (matplotlib, Agg; kept out of the package import)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_search_curve(history: list[dict[str, Any]], path: Path, ylabel: str = "score") -> None:
    """Every candidate's score per generation, and the best so far."""
    figure, axes = plt.subplots(figsize=(8, 5))
    for record in history:
        scores = [item["score"] for item in record["candidates"] if item["score"] is not None]
        axes.scatter([record["generation"]] * len(scores), scores, s=12, alpha=0.5, color="tab:blue")
    bests = [(record["generation"], record["best"]["score"]) for record in history if record["best"]]
    if bests:
        axes.plot(*zip(*bests, strict=True), color="tab:red", marker="o", label="best so far")
        axes.legend()
    axes.set_xlabel("generation")
    axes.set_ylabel(ylabel)
    axes.set_title("Evolutionary search")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_scatter(
    points: list[tuple[float, float]],
    path: Path,
    xlabel: str,
    ylabel: str,
    highlight: tuple[float, float] | None,
    labels: tuple[str, str] = ("evaluated", "chosen"),
    title: str | None = None,
) -> None:
    """One dot per candidate (e.g. accuracy vs FLOPs), the chosen one marked."""
    figure, axes = plt.subplots(figsize=(8, 5))
    if points:
        axes.scatter(*zip(*points, strict=True), s=12, alpha=0.5, color="tab:blue", label=labels[0])
    if highlight is not None:
        axes.scatter([highlight[0]], [highlight[1]], s=80, marker="*", color="tab:red", label=labels[1])
    axes.legend()
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
