"""synth.py's Yosys script: the iCE40 mapping is synth_ice40 -flowmap's but for the centroid array (ABC, area)."""

from __future__ import annotations

import pytest
from configs import TEST_CONFIGS
from hw_scripts import load_script

pytestmark = pytest.mark.slow  # Yosys runs

synth = load_script("synth")
MAC, CENTROID = (TEST_CONFIGS[name][0] for name in ("2x8_index8_acc20", "centroid_4x2_index2_acc20"))


def luts(config, command: str, tmp_path) -> int:
    stat = tmp_path / "stat.json"
    synth.yosys(f"{synth.read_sources(config, 'dpq_accel')}; {command}; tee -q -o {stat} stat -json", tmp_path / "log")
    return synth.cell_counts(stat, synth.ICE40)["LUT"]


def test_without_a_centroid_array_the_mapping_is_synth_ice40_flowmaps(tmp_path):
    assert luts(MAC, synth.ice40_synth(MAC, "dpq_accel"), tmp_path) == luts(
        MAC, "synth_ice40 -dsp -flowmap -top dpq_accel", tmp_path
    )


def test_the_centroid_array_is_mapped_for_area(tmp_path):
    assert luts(CENTROID, synth.ice40_synth(CENTROID, "dpq_accel"), tmp_path) < luts(
        CENTROID, "synth_ice40 -dsp -flowmap -top dpq_accel", tmp_path
    )


def test_a_centroid_array_the_selection_misses_stops_the_synthesis(tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "AREA_MAPPED", "a:src=*/renamed_array.v:*")
    with pytest.raises(RuntimeError, match="yosys failed"):
        luts(CENTROID, synth.ice40_synth(CENTROID, "dpq_accel"), tmp_path)
