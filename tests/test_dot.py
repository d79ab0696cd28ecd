"""The int8 MAC dot product (the predictor's area reference) in the Amaranth
simulator: exact dot products of the same stimulus as the log-domain unit's."""

import random

import pytest

from exdisc.hw.dot import DotParams, DotProduct
from exdisc.hw.eager_logdot import LogDotParams
from exdisc.sim.harness.pysim import run_stream_unit
from exdisc.sim.stimulus.eager_logdot import logdot_jobs


def _run(dut, layout, beats, count, rng):
    return run_stream_unit(dut, {"i": beats}, count, rng, valid_prob=0.7, ready_prob=0.6,
                           layout=layout)[0]


@pytest.mark.parametrize("lanes", [1, 6, 16])
def test_mac_dot_product_reference(lanes, seed):
    p = DotParams(lanes=lanes, width=8, max_beats=3)
    lp = LogDotParams(lanes=lanes, width=8, max_beats=3)
    rng = random.Random(seed)
    jobs = logdot_jobs(lp, rng, 40)
    beats = [b for job, _ in jobs for b in job]
    want = []
    for job, _ in jobs:
        want.append({"acc": sum(x * y for b in job for x, y in zip(b["a"], b["b"]))})
    assert _run(DotProduct(p), p.out_layout, beats, len(jobs), rng) == want
