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

:func:`area_by_part` uses the same walk for an area breakdown by part of
a design (a unit lists its parts by submodule name): every flip-flop,
DSP and memory cell by its own name, every LUT4 and carry cell by the
parts it feeds.
"""

import collections
import json
import re
import sys


__all__ = ["lut_attribution", "area_by_part", "part_of", "PART_RESOURCES", "OTHER"]


_COMB_OUTPUTS = {"LUT4": ("Z",), "PFUMX": ("Z",), "L6MUX21": ("Z",),
                 "CCU2C": ("S0", "S1", "COUT")}


def _group(name):
    return re.sub(r"\d+", "#", name)


class _Walk:
    """The mapped netlist's combinational cells and, for each, the sequential
    or memory pins it reaches (``(cell name, port)`` pairs)."""

    def __init__(self, netlist_path, top):
        with open(netlist_path) as f:
            netlist = json.load(f)
        module = netlist["modules"][top]
        self.cells = cells = module["cells"]
        # a net's shortest name and its deepest (the name in the module
        # that drives it, where a shorter alias may be a port's outside)
        self.names, self.deepest = names, deepest = {}, {}
        for name, net in module["netnames"].items():
            if name.startswith("$"):
                continue
            for bit in net["bits"]:
                if not isinstance(bit, int):
                    continue
                if bit not in names or len(name) < len(names[bit]):
                    names[bit] = name
                if bit not in deepest or name.count(".") > deepest[bit].count("."):
                    deepest[bit] = name
        self.readers = readers = collections.defaultdict(list)
        for cell_name, cell in cells.items():
            outs = self._outputs(cell)
            for port, bits in cell["connections"].items():
                if port not in outs:
                    for bit in bits:
                        if isinstance(bit, int):
                            readers[bit].append((cell_name, port))
        self._sinks = {}

    @staticmethod
    def _outputs(cell):
        if cell["type"] in _COMB_OUTPUTS:
            return _COMB_OUTPUTS[cell["type"]]
        return tuple(port for port, direction in cell.get("port_directions", {}).items()
                     if direction == "output")

    def cell_name(self, cell_name, deepest=False):
        """A sequential cell's name: a flip-flop's output net (its shortest
        name, or its ``deepest``), else the cell's."""
        cell = self.cells[cell_name]
        if cell["type"] == "TRELLIS_FF":
            names = self.deepest if deepest else self.names
            return names.get(cell["connections"]["Q"][0], cell_name)
        return cell_name

    def sinks(self, cell_name):
        """The sequential and memory pins ``cell_name`` (combinational) reaches."""
        # One frame per combinational cell on a path: carry chains are long.
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 100000))
        try:
            return self._reached(cell_name)
        finally:
            sys.setrecursionlimit(limit)

    def _reached(self, cell_name):
        # The combinational cells form a DAG; the entry guards a revisit.
        if cell_name in self._sinks:
            return self._sinks[cell_name]
        self._sinks[cell_name] = frozenset()
        found = set()
        cell = self.cells[cell_name]
        for port in self._outputs(cell):
            for bit in cell["connections"].get(port, []):
                if not isinstance(bit, int):
                    continue
                for reader, reader_port in self.readers[bit]:
                    if self.cells[reader]["type"] in _COMB_OUTPUTS:
                        found |= self._reached(reader)
                    else:
                        found.add((reader, reader_port))
        self._sinks[cell_name] = frozenset(found)
        return self._sinks[cell_name]

    def shares(self, cell_type, key):
        """Each ``cell_type`` cell's share of each ``key(sink)``, summed; a
        cell that reaches no sink (only the top's ports) counts under None."""
        counts = collections.Counter()
        for cell_name, cell in self.cells.items():
            if cell["type"] != cell_type:
                continue
            groups = {key(sink) for sink in self.sinks(cell_name)} or {None}
            for group in groups:
                counts[group] += 1 / len(groups)
        return counts


def lut_attribution(netlist_path, top="wrapped"):
    """LUT4s per sink group of the mapped netlist at ``netlist_path``.

    Returns a :class:`collections.Counter` from group name to (fractional)
    LUT4 count; the counts sum to the netlist's LUT4s that reach any sink.
    """
    walk = _Walk(netlist_path, top)

    def group(sink):
        cell_name, port = sink
        if walk.cells[cell_name]["type"] == "TRELLIS_FF":
            return _group(walk.cell_name(cell_name))
        return _group(f"{walk.cells[cell_name]['type']}:{port}:{cell_name.split('$')[0]}")

    counts = walk.shares("LUT4", group)
    del counts[None]
    return counts


#: The cell types :func:`area_by_part` counts, by the name a table gives them.
PART_RESOURCES = {"lut4": "LUT4", "ccu2c": "CCU2C", "ff": "TRELLIS_FF",
                  "mult18": "MULT18X18D", "bram": "DP16KD", "lutram": "TRELLIS_DPR16X4"}
_SEQUENTIAL = {"TRELLIS_FF", "MULT18X18D", "DP16KD", "TRELLIS_DPR16X4"}
#: The part of whatever no prefix names (the P&R wrapper, the top's glue).
OTHER = "other"


def part_of(name, parts):
    """The label of the first of ``parts`` (``(label, prefixes)`` pairs)
    that has a prefix of ``name``; :data:`OTHER` if none has."""
    for label, prefixes in parts:
        if name.startswith(tuple(prefixes)):
            return label
    return OTHER


def area_by_part(netlist_path, parts, top="wrapped"):
    """The mapped netlist's cells by part of the design.

    ``parts`` are ``(label, prefixes)`` pairs, first match first
    (:func:`part_of`): flip-flops are named by their output net (its
    name in the module that drives it), DSPs,
    block RAMs and LUT RAMs by their cell name, and a LUT4 or carry cell
    belongs to the parts of the sequential cells it feeds, split evenly
    between them. Returns ``{label: {resource: count}}`` over the
    :data:`PART_RESOURCES`, for every label and :data:`OTHER`, counts
    rounded to whole cells.
    """
    walk = _Walk(netlist_path, top)
    labels = [label for label, _ in parts] + [OTHER]
    out = {label: dict.fromkeys(PART_RESOURCES, 0.0) for label in labels}
    by_type = {cell_type: resource for resource, cell_type in PART_RESOURCES.items()}
    for cell_name, cell in walk.cells.items():
        if cell["type"] in _SEQUENTIAL and cell["type"] in by_type:
            out[part_of(walk.cell_name(cell_name, True), parts)][by_type[cell["type"]]] += 1
    for resource in ("lut4", "ccu2c"):
        shares = walk.shares(PART_RESOURCES[resource],
                             lambda sink: part_of(walk.cell_name(sink[0], True), parts))
        for label, n in shares.items():
            out[OTHER if label is None else label][resource] += n
    return {label: {k: round(v) for k, v in counts.items()} for label, counts in out.items()}
