"""cocotb sign-off of :class:`hw.router.HashBankRouter`.

Every lane's request and response streams are driven at once, with random
valid gaps and random backpressure on each; every response is compared with
:class:`golden.router.BankedBufferModel` as it arrives (nothing dropped,
duplicated or reordered within a lane; every read returns the last write to
its address), and after the last one the ports must stay quiet.

``EXDISC_BENCH`` (a JSON file) switches to measurement: the traces it names
run at full rate (every lane always valid, every response always ready) and
the achieved rate and latencies are written back to the file.
"""

import json
import os
import random

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly

from sim.payload import pack, unpack
from sim.router_traffic import RouterTraffic, random_program, trace_program
from sim.runner import design_params
from sim.streams import Tick, reset, start_clock, test_rng


async def start(dut):
    """Clock and reset, once per test. The banks are not cleared by reset:
    the golden model of each test starts from cleared banks, so the random
    test runs first and the others write every word before they read it."""
    await start_clock(dut)
    await reset(dut)


async def run_traffic(dut, p, traffic, *, max_cycles=2_000_000):
    """Run ``traffic`` to its end; returns the cycles it took."""
    tick = Tick(dut)

    def ports(kind, n):
        return [getattr(dut, f"{kind}__{n}__{m}") for m in ("valid", "ready", "payload")]

    req = [ports("req", n) for n in range(p.lanes)]
    resp = [ports("resp", n) for n in range(p.lanes)]
    for valid, _, _ in req:
        valid.value = 0
    for _, ready, _ in resp:
        ready.value = 0
    await tick()
    cycle = 0
    while not traffic.done:
        for (valid, _, payload), (_, ready, _), (offer, take) in zip(req, resp, traffic.drive()):
            valid.value = int(offer is not None)
            if offer is not None:
                payload.value = pack(p.req_layout, offer)
            ready.value = int(take)
        await ReadOnly()
        req_ready = [bool(r.value) for _, r, _ in req]
        resp_valid = [bool(v.value) for v, _, _ in resp]
        payloads = [unpack(p.resp_layout, pl.value.to_unsigned()) if v else None
                    for v, (_, _, pl) in zip(resp_valid, resp)]
        traffic.observe(cycle, req_ready, resp_valid, payloads)
        await tick()
        cycle += 1
        if cycle > max_cycles:
            raise AssertionError(f"traffic unfinished after {max_cycles} cycles "
                                 f"(epoch {traffic.epoch}, seed {traffic.seed})")
    for (valid, _, _), (_, ready, _) in zip(req, resp):
        valid.value = 0
        ready.value = 1
    for _ in range(2 * p.latency):
        await ReadOnly()
        extra = [n for n, (v, _, _) in enumerate(resp) if v.value]
        assert not extra, f"lanes {extra}: response after the last expected one (seed {traffic.seed})"
        await tick()
    return cycle


@cocotb.test()
async def router_random_scoreboard(dut):
    _, p = design_params()
    rng, seed = test_rng(dut._log, "router")
    count = int(os.environ.get("EXDISC_COUNT", "100000"))
    if os.environ.get("EXDISC_BENCH"):
        return
    await start(dut)
    program = random_program(p, rng, count)
    traffic = RouterTraffic(p, program, rng, seed=seed, valid_prob=0.7, ready_prob=0.7)
    cycles = await run_traffic(dut, p, traffic)
    writes = sum(r["write"] for e in program for lane in e for r in lane)
    dut._log.info("%d responses match the golden buffer (%d writes, %d epochs, %d cycles)",
                  traffic.checked, writes, len(program), cycles)
    assert traffic.checked == count


@cocotb.test()
async def router_dit_scatter_gather(dut):
    """Scatter random words to the addresses CTR's and ST's gathers read, then gather."""
    _, p = design_params()
    rng, seed = test_rng(dut._log, "router-dit")
    if os.environ.get("EXDISC_BENCH"):
        return
    from golden.router import ctr_gather, st_gather
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
        await run_traffic(dut, p, traffic)
        dut._log.info("%s: %d words scattered, %d gathered and checked",
                      name, len(targets), traffic.checked - len(targets))


@cocotb.test()
async def router_bench(dut):
    """Full-rate runs of the traces in ``EXDISC_BENCH``; results written back."""
    path = os.environ.get("EXDISC_BENCH")
    if not path:
        return
    _, p = design_params()
    spec = json.loads(open(path).read())
    await start(dut)
    results = {}
    for name, lanes in spec["traces"].items():
        traffic = RouterTraffic(p, trace_program(p, lanes), random.Random(0),
                                valid_prob=1.0, ready_prob=1.0)
        cycles = await run_traffic(dut, p, traffic)
        lat = traffic.latencies()
        results[name] = {"requests": int(traffic.checked), "cycles": cycles,
                         "rate": traffic.rate(),
                         "latency_p50": float(np.percentile(lat, 50)),
                         "latency_p99": float(np.percentile(lat, 99)),
                         "latency_max": int(lat.max())}
        dut._log.info("%s: %.3f requests per lane per cycle", name, traffic.rate())
    spec["results"] = results
    with open(path, "w") as f:
        json.dump(spec, f)
