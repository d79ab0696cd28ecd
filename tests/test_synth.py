"""Synthesis flow: the tools reproduce the stored baselines exactly on a few
small designs, the report is consistent, the options reach the tools.
(That every baseline still holds is checked without tools: test_baselines.py.)
"""

import json

import pytest
from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from exdisc.hw.eager_rowselect import RowSelectParams
from exdisc.hw.lod import LeadingOneDetector, LODParams
from exdisc.synth.baselines import load_baseline, verdict
from exdisc.synth.flow import synth_dir, synthesize


#: Synthesized in every `make test`, each in seconds: a LUT-only unit and one with
#: a block RAM. The units preset's points (a registered LOD, and a floorplanned
#: systolic array with DSPs and its block-RAM queue) are checked the same way by
#: test_flow.py::test_flow_units, which synthesizes them.
REPRODUCED = [("lod", LODParams(width=16, k=1)),
              ("rowselect", RowSelectParams(score_width=48, row=256, top_k=32))]


def _id(point):
    unit_name, params = point
    return f"{unit_name}-{params.slug()}"


def check_reproduced(result, params):
    """``result``, synthesized with its baseline's options, is the baseline's
    netlist and numbers, and its report is consistent."""
    record = load_baseline(result.unit, params)
    assert result.netlist == record["netlist"]
    assert result.metrics() == record["metrics"], "the same netlist gave other numbers"
    assert verdict(result, params).status == "within"
    assert result.lut4 == result.ecp5_cells.get("LUT4", 0)
    assert result.mult18 == result.ecp5_cells.get("MULT18X18D", 0)
    assert result.utilisation["TRELLIS_IO"]["used"] == 5     # clk, rst, sin, load, sout
    # The wrapper's shift registers are all there (the unit's own FFs may be
    # fewer after P&R: yosys optimises across the wrapper boundary).
    wrapper_ffs = 3 * result.wrapper_bits["in"] + 2 * result.wrapper_bits["out"]
    assert result.utilisation["TRELLIS_FF"]["used"] >= wrapper_ffs
    # A systolic array's DSPs (and its queue's block RAMs) are floorplanned,
    # and nextpnr took every site (plus the clock pin's).
    if result.unit == "systolic":
        assert result.floorplan >= result.mult18 > 0
        log = (synth_dir(result.module) / "nextpnr.log").read_text()
        assert f"Placed {result.floorplan + 1} cells based on constraints" in log


@pytest.mark.synth
@pytest.mark.parametrize("unit_name, params", REPRODUCED, ids=[_id(b) for b in REPRODUCED])
def test_tools_reproduce_the_baseline(unit_name, params):
    record = load_baseline(unit_name, params)
    check_reproduced(synthesize(unit_name, params, **record["options"]), params)


@pytest.mark.parametrize("speed, error", [(9, ValueError), (5, ValueError), (True, TypeError),
                                          ("8", TypeError)])
def test_synthesize_rejects_speed(speed, error):
    with pytest.raises(error, match=f"parameter 'speed'.*{speed!r}"):
        synthesize("lod", LODParams(width=16, k=1), pnr=True, speed=speed)


@pytest.mark.parametrize("floorplan", [1, "yes", None])
def test_synthesize_rejects_floorplan(floorplan):
    with pytest.raises(TypeError, match=f"parameter 'floorplan'.*{floorplan!r}"):
        synthesize("lod", LODParams(width=16, k=1), pnr=True, floorplan=floorplan)


@pytest.mark.parametrize("placer", ["sa", "", None])
def test_synthesize_rejects_placer(placer):
    with pytest.raises(ValueError, match=f"parameter 'placer'.*{placer!r}"):
        synthesize("lod", LODParams(width=16, k=1), pnr=True, placer=placer)


@pytest.mark.synth
def test_placer_reaches_nextpnr():
    """The static placer is named in the run's options (and so its digest)
    and in nextpnr's log; the default placer leaves the options as they were
    before it could be chosen."""
    from exdisc.synth.flow import synth_dir
    params = LODParams(width=16, k=1)
    heap = synthesize("lod", params, log=lambda s: None)
    assert "placer" not in heap.options
    assert "HeAP" in (synth_dir(heap.module) / "nextpnr.log").read_text()
    static = synthesize("lod", params, placer="static", log=lambda s: None)
    assert static.options["placer"] == "static" and static.netlist != heap.netlist
    log = (synth_dir(static.module) / "nextpnr.log").read_text()
    assert "HeAP" not in log and "static" in log.lower()


@pytest.mark.synth
def test_speed_grade_reaches_nextpnr():
    """The same netlist timed for a -8 part runs faster than for a -6 (speed
    8 delays are about a quarter shorter: the W = 16, k = 2 LOD gave 236.7
    against 174.0 MHz when measured)."""
    params = LODParams(width=16, k=1)
    slow = synthesize("lod", params, speed=6, log=lambda s: None)
    fast = synthesize("lod", params, speed=8, log=lambda s: None)
    assert (slow.speed, fast.speed) == (6, 8)
    assert fast.fmax_mhz > slow.fmax_mhz * 1.1, (slow.fmax_mhz, fast.fmax_mhz)


@pytest.mark.synth
def test_wrapper_counts_ports():
    result = synthesize("lod", LODParams(width=16, k=2), pnr=False)
    # i: payload 16 + valid; o: ready. Out: i.ready, o.valid, payload 2*4 + 2.
    assert result.wrapper_bits == {"in": 18, "out": 12}
    assert result.fmax_mhz is None


@pytest.mark.synth
def test_lut_attribution_accounts_for_every_lut():
    """Every LUT4 of the mapped netlist is charged to the registers it feeds,
    and a registered unit's LUTs go to its own output register."""
    from exdisc.synth.attribution import lut_attribution
    result = synthesize("lod", LODParams(width=16, k=2, registered=True), pnr=False)
    netlist = synth_dir(result.module) / "wrapped.json"
    cells = json.loads(netlist.read_text())["modules"]["wrapped"]["cells"].values()
    luts = sum(1 for cell in cells if cell["type"] == "LUT4")
    counts = lut_attribution(netlist)
    assert sum(counts.values()) == pytest.approx(luts)
    # The unit's LUTs (its own count, less rounding across the wrapper) feed o.payload.
    assert counts["o__payload"] >= 0.9 * result.lut4


@pytest.mark.synth
def test_area_floors_remove_only_the_lane_logic():
    """An area floor keeps every flip-flop of its unit (so that the difference
    is lane logic, not registers that synthesis dropped) and costs less: the
    log-domain dot product at both integer roundings, and the MAC dot product."""
    from exdisc.hw.dot import DotParams
    from exdisc.hw.eager_logdot import LogDotParams
    from exdisc.hw.units import AREA_FLOORS
    quiet = dict(pnr=False, log=lambda s: None)
    points = [("logdot", LogDotParams(lanes=4, width=8, k=2, max_beats=2, encoded=True,
                                      split=False, rounding=rounding))
              for rounding in ("signed", "truncate")]
    for name, params in points + [("dot", DotParams(lanes=4, width=8, max_beats=2))]:
        unit = synthesize(name, params, **quiet)
        floor = synthesize(AREA_FLOORS[f"{name}_floor"], params, **quiet)
        assert floor.unit == f"{name}_floor" and floor.module != unit.module
        assert floor.ff == unit.ff, params
        assert floor.transistors < unit.transistors, params


@pytest.mark.parametrize("change, error", [
    ({"k": 1}, "parameter 'k' of an area floor must be 2, not 1"),
    ({"encoded": False}, "parameter 'encoded' of an area floor must be True"),
])
def test_area_floor_rejects_what_it_cannot_bound(change, error):
    from exdisc.hw.eager_logdot import LogDotAreaFloor, LogDotParams
    params = dict(lanes=4, k=2, encoded=True, split=False, rounding="truncate")
    with pytest.raises(ValueError, match=error):
        LogDotAreaFloor(LogDotParams(**{**params, **change}))


class _TwoDetectors(wiring.Component):
    """Two registered leading-one detectors side by side: two parts of one
    size, for the area breakdown."""

    area_parts = (("first", ("first.",)), ("second", ("second.",)))

    def __init__(self, params):
        self.params = params
        members = {"i": In(stream.Signature(params.width)),
                   "o": Out(stream.Signature(params.result_layout))}
        super().__init__({f"{k}_{n}": members[n] for k in ("a", "b") for n in ("i", "o")})

    def elaborate(self, platform):
        m = Module()
        for k, name in (("a", "first"), ("b", "second")):
            m.submodules[name] = lod = LeadingOneDetector(self.params)
            wiring.connect(m, wiring.flipped(getattr(self, f"{k}_i")), lod.i)
            wiring.connect(m, lod.o, wiring.flipped(getattr(self, f"{k}_o")))
        return m


@pytest.mark.synth
def test_area_by_part_counts_every_cell_once():
    """The breakdown of a design into parts holds every cell of the mapped
    netlist once, and two copies of one unit cost the same."""
    from exdisc.hw.units import Unit
    from exdisc.synth.attribution import OTHER, PART_RESOURCES
    unit = Unit("two_lods", LODParams, _TwoDetectors, "two leading-one detectors")
    result = synthesize(unit, LODParams(width=16, k=2, registered=True), pnr=False)
    cells = json.loads((synth_dir(result.module) / "wrapped.json").read_text())
    cells = cells["modules"]["wrapped"]["cells"].values()
    assert set(result.parts) == {"first", "second", OTHER}
    for resource, cell_type in PART_RESOURCES.items():
        total = sum(1 for cell in cells if cell["type"] == cell_type)
        assert sum(part[resource] for part in result.parts.values()) == pytest.approx(total, abs=2)
    first, second = result.parts["first"], result.parts["second"]
    assert first["ff"] == second["ff"] > 0
    assert first["lut4"] > 0 and second["lut4"] > 0
    assert first["lut4"] + second["lut4"] >= 0.9 * result.lut4


def test_critical_path_names_its_parts():
    from exdisc.synth.flow import _critical_path
    step = lambda a, b, d: {"from": {"cell": a}, "to": {"cell": b}, "delay": d}  # noqa: E731
    report = {"critical_paths": [{"path": [step("inner.first.x_FF", "inner.first.x_FF", 0.5),
                                           step("inner.first.x_FF", "inner.second.y_FF", 1.25)]}]}
    parts = [("first", ("inner.first.",)), ("second", ("inner.second.",))]
    assert _critical_path(report, parts) == {
        "from": "inner.first.x_FF", "to": "inner.second.y_FF", "from_part": "first",
        "to_part": "second", "delay_ns": 1.75}
    assert _critical_path({"critical_paths": []}, parts) == {}


def _submodule_paths(component):
    from amaranth.hdl import Fragment
    paths = []

    def walk(fragment, prefix):
        for sub, name, *_ in fragment.subfragments:
            paths.append(f"{prefix}{name}.")
            walk(sub, f"{prefix}{name}.")
    walk(Fragment.get(component, None), "")
    return paths


@pytest.mark.parametrize("make", ["core", "nonlinear"])
def test_area_parts_name_submodules(make):
    """Every part a unit lists names a submodule of its design, so that a
    renamed submodule cannot silently move its cells to 'other'."""
    from exdisc.hw.core.core import Core
    from exdisc.hw.core.params import DiscParams
    from exdisc.hw.nonlinear import NonLinearParams, NonLinearUnit
    # DiscCore: the dense core's submodules, the sparse GEMMs' memories, the K/V store's
    component = {"core": lambda: Core(DiscParams(array_rows=2, array_cols=2, nl_lanes=2,
                                                 kv_bytes=1024)),
                 "nonlinear": lambda: NonLinearUnit(NonLinearParams(lanes=2, max_len=16))}[make]()
    paths = _submodule_paths(component)
    for label, prefixes in component.area_parts:
        for prefix in prefixes:
            assert any(path.startswith(prefix) for path in paths), (label, prefix, paths)


def test_split_nets_only_where_a_unit_asks():
    """A unit with ``yosys_split_nets`` gets both ECP5 syntheses cut at LUT
    mapping with the nets split between (the ABC9 assertion's workaround);
    any other unit's script is the plain one, so that its digest stays."""
    from exdisc.synth import flow
    plain = flow._yosys_script("top", "", False)
    split = flow._yosys_script("top", "", False, split=True)
    assert "splitnets" not in plain and split.count("splitnets") == 2
    for top, rest in (("top", ""), ("wrapped", " -json wrapped.json")):
        assert f"synth_ecp5 -top {top}{rest}\n" in plain
        assert (f"synth_ecp5 -top {top} -run :map_luts\nsplitnets\n"
                f"synth_ecp5 -top {top}{rest} -run map_luts:\n") in split
