"""cocotb benchmark of :class:`exdisc.hw.router.HashBankRouter`: the traces named
in the JSON file ``EXDISC_BENCH`` run at full rate (every lane always valid,
every response always ready), every response still checked against the
golden buffer; the achieved rate and latencies are written back to the file.
Run by :func:`exdisc.sim.benchmarks.router.run`.
"""

import json
import os
import random

import cocotb
import numpy as np

from exdisc.sim.harness.runner import design_params
from exdisc.sim.harness.streams import reset, start_clock
from exdisc.sim.stimulus.router import RouterTraffic, cocotb_traffic, trace_program


@cocotb.test()
async def router_bench(dut):
    path = os.environ["EXDISC_BENCH"]
    _, p = design_params()
    with open(path) as f:
        spec = json.load(f)
    await start_clock(dut)
    await reset(dut)
    results = {}
    for name, lanes in spec["traces"].items():
        traffic = RouterTraffic(p, trace_program(p, lanes), random.Random(0),
                                valid_prob=1.0, ready_prob=1.0)
        cycles = await cocotb_traffic(dut, traffic)
        assert traffic.checked == sum(len(seq) for seq in lanes), name
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
