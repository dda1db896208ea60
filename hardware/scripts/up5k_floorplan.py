"""nextpnr-ice40 `--pre-place` script (run by hardware/scripts/synth.py inside nextpnr, where `ctx` is the
design): places the MAC array's multipliers on the iCE40 UP5K's DSP tiles by row, so that each row's adder
tree sits beside its own multipliers.

The UP5K has its eight DSPs in two columns at the die's left and right edges. Left to the placer, a row's
multipliers end up on both edges and its adder tree in the middle, 5-7 ns of routing from each (the critical
path of most placer seeds). Here row r goes to edge r % 2, its multipliers in order from the bottom, so the
first tree level adds neighbours. A design whose rows do not fit an edge is left to the placer.
"""

import re

EDGES = ("X0", "X25")
SLOTS = ("Y5", "Y10", "Y15", "Y23")  # the DSP tiles of each edge, bottom to top
MULTIPLIER = re.compile(r"row(\d+)_product(\d*)")


def floorplan(cells: list[tuple[str, str]]) -> dict[str, str]:
    """DSP cell name -> BEL, or nothing when some multiplier's place is not obvious."""
    multipliers = []
    for name, kind in cells:
        if kind == "ICESTORM_DSP":
            found = MULTIPLIER.search(name)
            if found is None:
                return {}
            multipliers.append((name, int(found[1]), int(found[2] or 0)))
    if not multipliers:
        return {}
    lanes = 1 + max(lane for _, _, lane in multipliers)
    places = {}
    for name, row, lane in multipliers:
        slot = (row // len(EDGES)) * lanes + lane  # the rows of one edge one above the other
        if slot >= len(SLOTS):
            return {}
        places[name] = f"{EDGES[row % len(EDGES)]}/{SLOTS[slot]}/mac16_0"
    # two DSPs of one product (a multiplier wider than a DSP) would want the same tile
    return places if len(set(places.values())) == len(places) else {}


if "ctx" in globals():
    for cell_name, bel in floorplan([(name, cell.type) for name, cell in ctx.cells]).items():  # noqa: F821
        ctx.cells[cell_name].setAttr("BEL", bel)  # noqa: F821
