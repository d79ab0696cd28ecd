"""The harness bounds every simulation: a unit that stops making progress fails
its check at the cycle limit, in seconds, in both simulators."""

import random
import time

import pytest
from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from exdisc.sim.harness.limits import cycle_budget
from exdisc.sim.harness.pysim import SimulationTimeout, run_stream_unit
from exdisc.sim.harness.runner import SimulationFailed, run_design


class Stuck(wiring.Component):
    """Takes every word and never answers."""
    i: In(stream.Signature(unsigned(8)))
    o: Out(stream.Signature(unsigned(8)))

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.i.ready.eq(1)
        taken = Signal(8)
        with m.If(self.i.valid):
            m.d.sync += taken.eq(taken + 1)     # a clock domain, as a real unit has
        return m


def test_budget_grows_with_the_stimulus():
    assert cycle_budget(10, 10) < cycle_budget(100, 10) < cycle_budget(100, 10, ready_prob=0.1)
    assert cycle_budget(0, 0, latency=50) == 1050


def test_amaranth_simulation_stops_at_its_limit():
    start = time.monotonic()
    with pytest.raises(SimulationTimeout, match="did not finish within"):
        run_stream_unit(Stuck(), {"i": [1, 2, 3]}, 3, random.Random(0))
    assert time.monotonic() - start < 30


@pytest.mark.cocotb
def test_cocotb_check_stops_at_its_limit():
    start = time.monotonic()
    with pytest.raises(SimulationFailed, match="1 of 1 cocotb tests") as info:
        run_design(Stuck(), "stuck_unit", "stuck_tb")
    log = str(info.value).split("log: ")[1]
    assert "did not finish within" in open(log).read()
    assert time.monotonic() - start < 120
