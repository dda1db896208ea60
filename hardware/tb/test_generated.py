"""What `make hw-gen` generates (every design the tests, the lint and the synthesis read) and how the generator
refuses a configuration out of range."""

from __future__ import annotations

from dataclasses import asdict, replace

import pytest
from configs import TEST_CONFIGS
from generated import GenerationError, design_dir, designs, manifest, run_generator
from hw_scripts import load_script

from slimkit.accelerator.builds import BUILDS, FITS_UP5K


def test_make_hw_gen_generates_what_the_lint_the_tests_and_the_synthesis_read_once_each():
    keys = [(config.name, top) for config, top in designs()]
    assert len(keys) == len(set(keys))
    linted = {(config.name, top) for _, config, top in load_script("lint").lint_sets()}
    simulated = {(config.name, "dpq_accel") for config, _ in TEST_CONFIGS.values()}
    synthesized = {(config.name, "dpq_accel") for config in BUILDS.values()}
    synthesized |= {(BUILDS[name].name, "dpq_fpga_shell") for name in FITS_UP5K}
    assert set(keys) == linted | simulated | synthesized


def test_the_manifest_gives_each_design_its_own_directory_and_every_field():
    config = BUILDS["up5k_mac_2x4"]
    line = manifest([(config, "dpq_fpga_shell")]).strip()
    fields = dict(field.split("=", 1) for field in line.split())
    assert fields.pop("out") == str(design_dir(config, "dpq_fpga_shell"))
    assert fields.pop("top") == "dpq_fpga_shell"
    assert fields == {name: str(value) for name, value in asdict(config).items()}
    assert design_dir(config) != design_dir(replace(config, mode="centroid"))


@pytest.mark.slow  # one sbt run
def test_a_configuration_out_of_range_stops_the_generator_with_one_error_line(tmp_path):
    line = manifest([(BUILDS["up5k_mac_2x4"], "dpq_accel")]).replace(" rows=2 ", " rows=3 ")
    line = line.replace(str(design_dir(BUILDS["up5k_mac_2x4"])), str(tmp_path / "out"))
    with pytest.raises(GenerationError) as refused:
        run_generator(line, tmp_path / "sbt.log")
    first = str(refused.value).splitlines()[0]
    assert first == f"error: rows and cols must be powers of two, got 3 x 4 in: {line.strip()}"
    assert not (tmp_path / "out").exists()
