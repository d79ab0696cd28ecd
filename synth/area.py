"""Area of the eager predictor's log-domain dot product against an int8 MAC.

The predictor is worth its area only if it is much smaller than the exact
dot product it stands in for. :func:`eager_area` synthesizes (no place and
route) every variant of :class:`exdisc.hw.eager_logdot.LogDotProduct` that
matters, the int8 multiply-accumulate dot product of the same pipeline
(:class:`exdisc.hw.dot.DotProduct`), and both *area floors*
(:data:`exdisc.hw.units.AREA_FLOORS`: the same registers, adder tree and
accumulators without the lane products), and sets gates and transistors of
the technology-independent netlist against the MAC's. The floors measure
what no cheaper lane product could ever save.
"""

from exdisc.hw.units import AREA_FLOORS, get_unit
from exdisc.common.progress import log as default_log
from exdisc.common.tables import Table
from .flow import synthesize


__all__ = ["POINTS", "eager_area", "tables"]


MAC = "int8 MAC dot product"
MAC_FLOOR = "int8 MAC dot product, multipliers removed (floor)"
DEFAULT = "log k2 signed, encoded, one tree"
DEFAULT_FLOOR = f"{DEFAULT}, lane products removed (floor)"

#: (label, unit, parameters beside lanes, width and length) of every row.
POINTS = [
    ("log k2 truncate, int operands, pos/neg", "logdot", {"k": 2, "rounding": "truncate"}),
    ("log k2 signed, int operands, pos/neg", "logdot", {"k": 2, "rounding": "signed"}),
    ("log k2 truncate, encoded, pos/neg", "logdot",
     {"k": 2, "encoded": True, "rounding": "truncate"}),
    ("log k2 truncate, encoded, one tree", "logdot",
     {"k": 2, "encoded": True, "split": False, "rounding": "truncate"}),
    (DEFAULT, "logdot", {"k": 2, "encoded": True, "split": False, "rounding": "signed"}),
    ("log k1 truncate (FACT), encoded, one tree", "logdot",
     {"k": 1, "encoded": True, "split": False, "rounding": "truncate"}),
    (DEFAULT_FLOOR, "logdot_floor", {"k": 2, "encoded": True, "split": False, "rounding": "signed"}),
    (MAC_FLOOR, "dot_floor", {}),
    (MAC, "dot", {}),
]


def eager_area(lanes=16, *, log=default_log):
    """Every row of :data:`POINTS` at ``lanes`` lanes of int8 (dot products of
    64 elements), as a record with the ratios to the MAC and the cost of the
    lane products."""
    rows = []
    for label, unit_name, extra in POINTS:
        unit = AREA_FLOORS.get(unit_name) or get_unit(unit_name)
        params = unit.params(lanes=lanes, width=8, max_beats=max(1, 64 // lanes), **extra)
        r = synthesize(unit, params, pnr=False, log=log)
        rows.append({"label": label, "module": r.module, "lut4": r.lut4, "ff": r.ff,
                     "ccu2c": r.ccu2c, "mult18": r.mult18, "gates": r.gates,
                     "transistors": r.transistors})
    by = {a["label"]: a for a in rows}
    for a in rows:
        a["gates_ratio"] = a["gates"] / by[MAC]["gates"]
        a["transistors_ratio"] = a["transistors"] / by[MAC]["transistors"]
    logp = by[DEFAULT]["transistors"] - by[DEFAULT_FLOOR]["transistors"]
    mac = by[MAC]["transistors"] - by[MAC_FLOOR]["transistors"]
    return {"lanes": lanes, "rows": rows,
            "lane_products": {"log": logp, "mac": mac, "per_lane_log": logp / lanes,
                              "per_lane_mac": mac / lanes, "ratio": logp / mac,
                              "floor_ratio": by[DEFAULT_FLOOR]["transistors_ratio"]}}


def tables(record):
    lp = record["lane_products"]
    rows = [[a["label"], a["lut4"], a["ff"], a["mult18"], a["gates"], a["transistors"],
             f"{a['gates_ratio']:.2f}", f"{a['transistors_ratio']:.2f}"] for a in record["rows"]]
    return [Table([f"unit (L = {record['lanes']}, int8)", "LUT4", "FF", "MULT18", "gates",
                   "transistors", "gates / MAC", "transistors / MAC"], rows,
                  title="Eager predictor area against an int8 MAC (exdisc bench eager)",
                  caption=f"Lane products: {lp['log']} transistors ({lp['per_lane_log']:.0f} a "
                          f"lane), {lp['ratio']:.2f} of the MAC's multipliers ({lp['mac']}, "
                          f"{lp['per_lane_mac']:.0f} a lane); without them the predictor is "
                          f"still {lp['floor_ratio']:.2f} of the MAC. Generic synthesis, "
                          "abc -g cmos2, stat -tech cmos.")]
