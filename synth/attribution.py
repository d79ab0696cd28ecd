"""Where a mapped netlist's LUTs go: each LUT4 charged to the registers it feeds.

``synth_ecp5`` flattens a unit, so its cell counts do not say which part of
the design costs what. This walks the mapped netlist (``wrapped.json`` of a
synthesis run) forward from every LUT4 through the combinational cells
(LUT4, PFUMX, L6MUX21, CCU2C) to the sequential or memory pins it reaches,
and charges the LUT an equal share to each of them. A sink is named by the
flip-flop's output net, or by cell type, pin and cell name for memories and
DSPs; digits become ``#`` so that per-lane and per-bank copies add up.

The shares of a LUT that feeds several groups are split evenly, so a group's
figure is what it alone would keep, roughly: a mux whose select logic the
mapper copied into every bit shows up as several LUTs per bit of its sink.
"""

import collections
import json
import re
import sys


__all__ = ["lut_attribution"]


_COMB_OUTPUTS = {"LUT4": ("Z",), "PFUMX": ("Z",), "L6MUX21": ("Z",),
                 "CCU2C": ("S0", "S1", "COUT")}


def _group(name):
    return re.sub(r"\d+", "#", name)


def lut_attribution(netlist_path, top="wrapped"):
    """LUT4s per sink group of the mapped netlist at ``netlist_path``.

    Returns a :class:`collections.Counter` from group name to (fractional)
    LUT4 count; the counts sum to the netlist's LUT4s that reach any sink.
    """
    with open(netlist_path) as f:
        netlist = json.load(f)
    module = netlist["modules"][top]
    cells = module["cells"]
    names = {}
    for name, net in module["netnames"].items():
        if name.startswith("$"):
            continue
        for bit in net["bits"]:
            if isinstance(bit, int) and (bit not in names or len(name) < len(names[bit])):
                names[bit] = name

    def outputs(cell):
        if cell["type"] in _COMB_OUTPUTS:
            return _COMB_OUTPUTS[cell["type"]]
        return tuple(port for port, direction in cell.get("port_directions", {}).items()
                     if direction == "output")

    readers = collections.defaultdict(list)
    for cell_name, cell in cells.items():
        outs = outputs(cell)
        for port, bits in cell["connections"].items():
            if port not in outs:
                for bit in bits:
                    if isinstance(bit, int):
                        readers[bit].append((cell_name, port))

    def sink_name(cell_name, port):
        cell = cells[cell_name]
        if cell["type"] == "TRELLIS_FF":
            return _group(names.get(cell["connections"]["Q"][0], cell_name))
        return _group(f"{cell['type']}:{port}:{cell_name.split('$')[0]}")

    sinks = {}

    def reached(cell_name):
        # The combinational cells form a DAG; the entry guards a revisit.
        if cell_name in sinks:
            return sinks[cell_name]
        sinks[cell_name] = frozenset()
        found = set()
        cell = cells[cell_name]
        for port in outputs(cell):
            for bit in cell["connections"].get(port, []):
                if not isinstance(bit, int):
                    continue
                for reader, reader_port in readers[bit]:
                    if cells[reader]["type"] in _COMB_OUTPUTS:
                        found |= reached(reader)
                    else:
                        found.add(sink_name(reader, reader_port))
        sinks[cell_name] = frozenset(found)
        return sinks[cell_name]

    counts = collections.Counter()
    # One frame per combinational cell on a path: carry chains are long.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 100000))
    try:
        for cell_name, cell in cells.items():
            if cell["type"] != "LUT4":
                continue
            groups = reached(cell_name)
            for group in groups:
                counts[group] += 1 / len(groups)
    finally:
        sys.setrecursionlimit(limit)
    return counts
