"""The UP5K floorplan that synth.py hands nextpnr: each MAC row's multipliers on one die edge, in lane order."""

from __future__ import annotations

from hw_scripts import load_script

floorplan = load_script("up5k_floorplan").floorplan

PREFIX = "logic_accelerator.logic_array"


def dsps(rows: int, lanes: int | None) -> list[tuple[str, str]]:
    lane_names = [""] if lanes is None else [str(lane) for lane in range(lanes)]
    return [(f"{PREFIX}.row{r}_product{j}_SB_MAC16_O_DSP", "ICESTORM_DSP") for r in range(rows) for j in lane_names]


def test_each_row_of_the_up5k_mac_build_sits_on_its_own_edge_in_lane_order():
    places = floorplan(dsps(2, 4) + [("logic_accelerator.logic_controller.x_LC", "ICESTORM_LC")])
    assert places == {
        f"{PREFIX}.row{r}_product{j}_SB_MAC16_O_DSP": f"{('X0', 'X25')[r]}/{('Y5', 'Y10', 'Y15', 'Y23')[j]}/mac16_0"
        for r in range(2)
        for j in range(4)
    }


def test_rows_beyond_two_stack_on_the_edges_and_one_multiplier_rows_count_as_lane_zero():
    places = floorplan(dsps(4, 2))
    assert places[f"{PREFIX}.row2_product1_SB_MAC16_O_DSP"] == "X0/Y23/mac16_0"
    assert places[f"{PREFIX}.row3_product0_SB_MAC16_O_DSP"] == "X25/Y15/mac16_0"
    assert floorplan(dsps(2, None)) == {
        f"{PREFIX}.row0_product_SB_MAC16_O_DSP": "X0/Y5/mac16_0",
        f"{PREFIX}.row1_product_SB_MAC16_O_DSP": "X25/Y5/mac16_0",
    }


def test_designs_it_cannot_place_are_left_to_the_placer():
    assert floorplan(dsps(2, 5)) == {}  # five lanes: more than an edge's four DSPs
    assert floorplan(dsps(10, 1)) == {}  # ten rows of one: the fifth row of an edge has no tile
    assert floorplan([("some_multiplier_DSP", "ICESTORM_DSP")]) == {}  # not a MAC row's product
    assert floorplan([("x_LC", "ICESTORM_LC")]) == {}
