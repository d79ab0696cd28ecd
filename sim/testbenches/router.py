"""cocotb sign-off of :class:`exdisc.hw.router.HashBankRouter`.

Every lane's request and response streams are driven at once, with random
valid gaps and random backpressure on each; every response is compared with
:class:`exdisc.golden.router.BankedBufferModel` as it arrives (nothing dropped,
duplicated or reordered within a lane; every read returns the last write to
its address), and after the last one the ports must stay quiet.
"""

import os

import cocotb

from exdisc.sim.harness.runner import design_params
from exdisc.sim.harness.streams import reset, start_clock, test_rng
from exdisc.sim.stimulus.router import (RouterTraffic, cocotb_traffic, random_program,
                                        trace_program)


async def start(dut):
    """Clock and reset, once per test. The banks are not cleared by reset:
    the golden model of each test starts from cleared banks, so the random
    test runs first and the others write every word before they read it."""
    await start_clock(dut)
    await reset(dut)


@cocotb.test()
async def router_random_scoreboard(dut):
    _, p = design_params()
    rng, seed = test_rng(dut._log, "router")
    count = int(os.environ.get("EXDISC_COUNT", "100000"))
    await start(dut)
    program = random_program(p, rng, count)
    traffic = RouterTraffic(p, program, rng, seed=seed, valid_prob=0.7, ready_prob=0.7)
    cycles = await cocotb_traffic(dut, traffic)
    writes = sum(r["write"] for e in program for lane in e for r in lane)
    dut._log.info("%d responses match the golden buffer (%d writes, %d epochs, %d cycles)",
                  traffic.checked, writes, len(program), cycles)
    assert traffic.checked == count


@cocotb.test()
async def router_dit_scatter_gather(dut):
    """Scatter random words to the addresses CTR's and ST's gathers read, then gather."""
    _, p = design_params()
    rng, seed = test_rng(dut._log, "router-dit")
    from exdisc.golden.router import ctr_gather, st_gather
    limit = int(os.environ.get("EXDISC_TRACE_LIMIT", "400"))
    await start(dut)
    for name, lanes in (("ctr", ctr_gather(p.lanes, 16, limit=limit)),
                        ("st", st_gather(p.lanes, 4, limit=limit))):
        space = 1 << p.addr_width
        lanes = [[a % space for a in seq] for seq in lanes]
        targets = sorted({a for seq in lanes for a in seq})
        scatter = [[] for _ in range(p.lanes)]
        for i, a in enumerate(targets):
            scatter[i % p.lanes].append({"write": 1, "addr": a, "tag": 0,
                                         "data": rng.getrandbits(p.data_width)})
        program = [scatter] + trace_program(p, lanes)
        traffic = RouterTraffic(p, program, rng, seed=seed, valid_prob=0.8, ready_prob=0.8)
        await cocotb_traffic(dut, traffic)
        gathered = traffic.checked - len(targets)
        assert gathered == sum(len(seq) for seq in lanes), (name, gathered)
        dut._log.info("%s: %d words scattered, %d gathered and checked",
                      name, len(targets), gathered)
