"""cocotb testbench of the generated dpq_accel (hardware/spinal, generated.py): runs every layer case listed in the
JSON file named by $DPQ_CASES through the accelerator and checks every output against the integer golden model
and the measured cycles against slimkit.accelerator's cycle model. Run from pytest by test_dpq_accel.py.

Handshakes are driven and sampled on the falling edge: the DUT only changes on rising edges, so what is seen
there is what the next rising edge samples, on Icarus and Verilator alike.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge
from cocotb.utils import get_sim_time

from slimkit.accelerator import ArrayConfig, activation_beats, index_words, layer_cycles, unpack_results
from slimkit.accelerator.memory_images import golden_outputs, read_layer
from slimkit.accelerator.tiles import wrap

PERIOD_NS = 10


def load_case(case: dict, config: ArrayConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(codebook, indices, activations, expected) of an exported layer or of a seeded random layer."""
    if "layer_dir" in case:
        layer = read_layer(case["layer_dir"])
        assert layer.meta["accumulator_bits"] <= config.acc_bits
        return layer.codebook, layer.indices, layer.activations, layer.expected
    rng = np.random.default_rng(case["seed"])
    half_w, half_a = 1 << (config.codebook_bits - 1), 1 << (config.act_bits - 1)
    codebook = rng.integers(-half_w, half_w, case["entries"])
    indices = rng.integers(0, case["entries"], (case["rows"], case["columns"]))
    activations = rng.integers(-half_a, half_a, (case["vectors"], case["columns"]))
    expected = wrap(golden_outputs(codebook, indices, activations), config.acc_bits)
    return codebook, indices, activations, expected


async def write_memories(dut, config: ArrayConfig, codebook: np.ndarray, indices: np.ndarray) -> None:
    """Every codebook entry (zeros past the layer's codebook: the centroid mode reads them all), then the
    index memory tile by tile."""
    padded = np.zeros(2**config.index_bits, dtype=np.int64)
    padded[: len(codebook)] = codebook
    for address, value in enumerate(padded.tolist()):
        await FallingEdge(dut.clk)
        dut.codebook_write.value = 1
        dut.codebook_address.value = address
        dut.codebook_data.value = value & ((1 << config.codebook_bits) - 1)
    for address, word in enumerate(index_words(indices, config)):
        await FallingEdge(dut.clk)
        dut.codebook_write.value = 0
        dut.index_write.value = 1
        dut.index_address.value = address
        dut.index_data.value = word
    await FallingEdge(dut.clk)
    dut.codebook_write.value = 0
    dut.index_write.value = 0


async def feed(dut, beats: list[int], stall_rate: float, rng: random.Random) -> None:
    """The activation source: one beat per cycle, idle with probability stall_rate."""
    sent = 0
    while sent < len(beats):
        await FallingEdge(dut.clk)
        if rng.random() < stall_rate:
            dut.in_valid.value = 0
            continue
        dut.in_valid.value = 1
        dut.in_data.value = beats[sent]
        if dut.in_ready.value:
            sent += 1  # taken at the next rising edge
    await FallingEdge(dut.clk)
    dut.in_valid.value = 0


async def collect(dut, count: int, stall_rate: float, rng: random.Random) -> list[int]:
    """The result sink: ready except with probability stall_rate; checks out_last on the final beat."""
    beats: list[int] = []
    while len(beats) < count:
        await FallingEdge(dut.clk)
        ready = rng.random() >= stall_rate
        dut.out_ready.value = int(ready)
        if ready and dut.out_valid.value:
            beats.append(int(dut.out_data.value))
            assert int(dut.out_last.value) == (len(beats) == count), f"out_last wrong on beat {len(beats)}"
    return beats


async def run_case(dut, config: ArrayConfig, case: dict) -> dict:
    codebook, indices, activations, expected = load_case(case, config)
    rows, columns = indices.shape
    vectors = activations.shape[0]
    config.check_layer(rows, columns, len(codebook), vectors)
    await write_memories(dut, config, codebook, indices)

    stall_rate = case.get("stall_rate", 0.0)
    rng = random.Random(case.get("seed", 0))
    row_tiles, _ = config.tiles(rows, columns)
    dut.rows.value, dut.columns.value, dut.vectors.value = rows, columns, vectors
    dut.start.value = 1
    await RisingEdge(dut.clk)  # the edge that samples start
    started = get_sim_time("ns")
    source = cocotb.start_soon(feed(dut, activation_beats(activations, config), stall_rate, rng))
    sink = cocotb.start_soon(collect(dut, vectors * row_tiles, stall_rate, rng))
    await FallingEdge(dut.clk)
    dut.start.value = 0
    while True:
        await FallingEdge(dut.clk)
        if dut.done.value:  # raised by the rising edge half a period ago
            break
    cycles = round((get_sim_time("ns") - PERIOD_NS / 2 - started) / PERIOD_NS)
    beats = await sink
    await source

    outputs = unpack_results(beats, rows, config)
    mismatches = np.argwhere(outputs != expected)
    assert mismatches.size == 0, f"{case['name']}: {len(mismatches)} outputs differ, first at (vector, row) " + str(
        tuple(mismatches[0])
    )
    predicted = layer_cycles(config, rows, columns, vectors)
    if stall_rate == 0:
        assert cycles == predicted, f"{case['name']}: {cycles} cycles simulated, the model says {predicted}"
    return {
        "name": case["name"],
        "rows": rows,
        "columns": columns,
        "vectors": vectors,
        "cycles": cycles,
        "predicted": predicted,
        "stall_rate": stall_rate,
    }


@cocotb.test()
async def layers_match_the_golden_model_and_the_cycle_model(dut):
    plan = json.loads(Path(os.environ["DPQ_CASES"]).read_text())
    config = ArrayConfig(**plan["config"])  # the parameters the DUT was built with
    cases = plan["cases"]
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    for port in ("start", "in_valid", "out_ready", "codebook_write", "index_write"):
        getattr(dut, port).value = 0
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    results = []
    for case in cases:
        results.append(await run_case(dut, config, case))
        assert dut.done.value and not dut.busy.value
    Path(os.environ["DPQ_RESULTS"]).write_text(json.dumps(results, indent=1))
