"""The compression report of a dp_quant run: ``compression_report.json`` and a markdown table."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def summary_table(metrics: dict[str, float]) -> str:
    """One row per model: fp32, pruned, clustered, then each quantizer's decoded file."""
    robust = any(name.endswith("test_pgd_acc") for name in metrics)
    header = "| model | test acc | " + ("PGD acc | " if robust else "") + "file bytes | ratio | ratio before Huffman |"
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for prefix in ("fp32", "pretrained", "pruned", "clustered", "dp", "kmeans"):
        if f"{prefix}/test_acc" not in metrics:
            continue
        cells = [prefix, f"{metrics[f'{prefix}/test_acc']:.4f}"]
        if robust:
            cells.append(f"{metrics.get(f'{prefix}/test_pgd_acc', float('nan')):.4f}")
        if f"{prefix}/file_bytes" in metrics:
            cells += [
                f"{metrics[f'{prefix}/file_bytes']:.0f}",
                f"{metrics[f'{prefix}/compression_ratio']:.1f}x",
                f"{metrics[f'{prefix}/compression_ratio_before_entropy_coding']:.1f}x",
            ]
        else:
            fp32 = prefix == "fp32"
            cells += [f"{metrics['fp32/bytes']:.0f}" if fp32 else "", "1.0x" if fp32 else "", ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def layer_table(layers: dict[str, dict[str, Any]]) -> str:
    """Per layer: bits, kept weights, SSE of each quantizer, and the file's bits per kept weight."""
    quantizers = [q for q in ("dp", "kmeans") if any(f"{q}_sse" in layer for layer in layers.values())]
    header = "| layer | bits | kept | " + " | ".join(f"{q} SSE" for q in quantizers)
    header += " | dp index bits/weight | dp position bits/weight |"
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for name, layer in layers.items():
        cells = [name, str(layer.get("bits", "")), str(layer.get("dp_kept", ""))]
        cells += [f"{layer[f'{q}_sse']:.6g}" for q in quantizers]
        cells += [f"{layer.get('dp_index_bits', 0):.2f}", f"{layer.get('dp_position_bits', 0):.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(output_dir: Path, metrics: dict[str, float], layers: dict[str, dict[str, Any]]) -> None:
    markdown = f"{summary_table(metrics)}\n\n{layer_table(layers)}\n"
    (output_dir / "compression_report.md").write_text(markdown)
    report = {"metrics": metrics, "layers": layers}
    (output_dir / "compression_report.json").write_text(json.dumps(report, indent=2) + "\n")
    log.info("compression report (%s):\n%s", output_dir / "compression_report.md", markdown)
