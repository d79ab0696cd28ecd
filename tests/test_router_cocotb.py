"""Sign-off of the router's emitted Verilog with Verilator and cocotb: 100,000
random requests with gaps and backpressure on every lane, and scatter-gathers
of CTR's and ST's real access patterns."""

import pytest

from exdisc.hw.router import RouterParams
from exdisc.sim.harness.signoff import signoff

pytestmark = pytest.mark.cocotb


def test_router_default():
    # 30,000 requests rather than `exdisc sim router`'s 100,000: each lane's
    # queues still fill and drain hundreds of times
    signoff("router", RouterParams(lanes=4, banks=8), env={"EXDISC_COUNT": 30000})


def test_router_modulo_b_less_than_p():
    # Three lanes on two banks, one-entry queues, no reorder slack, modulo hash.
    signoff("router", RouterParams(lanes=3, banks=2, hash="modulo", fifo_depth=1,
                                   enqueue_ports=1, outstanding=2, return_depth=1,
                                   return_ports=2, addr_width=12),
            env={"EXDISC_COUNT": 20000})
