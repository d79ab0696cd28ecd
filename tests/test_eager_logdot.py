"""The log-domain dot product of the eager predictor in the Amaranth simulator,
against its golden twin (:mod:`exdisc.golden.eager_logdot`)."""

import random

import numpy as np
import pytest

from exdisc.golden.eager_logdot import log_encode
from exdisc.golden.lod import keep_leading_ones
from exdisc.hw.eager_logdot import LogDotParams, LogDotProduct
from exdisc.sim.harness.pysim import run_stream_unit, valid_cycles
from exdisc.sim.stimulus.eager_logdot import logdot_jobs


def _run(dut, layout, beats, count, rng):
    return run_stream_unit(dut, {"i": beats}, count, rng, valid_prob=0.7, ready_prob=0.6,
                           layout=layout)[0]


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("lanes,width,levels,encoded,split,rounding", [
    (1, 8, 1, False, True, "truncate"), (5, 8, 2, False, True, "truncate"),
    (8, 12, 1, False, True, "truncate"), (6, 8, 2, True, True, "truncate"),
    (1, 8, 1, True, False, "truncate"), (7, 8, 2, True, False, "truncate"),
    (4, 10, 1, False, False, "truncate"),
    (5, 8, 2, False, True, "half_up"), (4, 10, 1, False, False, "half_up"),
    (3, 24, 2, False, False, "half_up"),
    (5, 8, 2, False, True, "signed"), (6, 8, 2, True, True, "signed"),
    (7, 8, 2, True, False, "signed"), (3, 24, 2, False, False, "signed")])
def test_logdot_random(k, lanes, width, levels, encoded, split, rounding, seed):
    p = LogDotParams(lanes=lanes, width=width, k=k, max_beats=3, tree_levels=levels,
                     encoded=encoded, split=split, rounding=rounding)
    rng = random.Random(seed)
    jobs = logdot_jobs(p, rng, 60)
    beats = [b for job, _ in jobs for b in job]
    got = _run(LogDotProduct(p), p.out_layout, beats, len(jobs), rng)
    assert got == [w for _, want in jobs for w in want]


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("rounding,encoded", [("half_up", False), ("signed", False),
                                              ("signed", True)])
def test_logdot_rounding_every_pair(k, rounding, encoded, seed):
    """Every pair of 6-bit operands through one lane against
    golden.lod.keep_leading_ones: the carry cases of half-up rounding (a
    lowest one that moves up, or merges into the highest) and every residual
    of the signed reduction (added, subtracted, absent) are all among them."""
    p = LogDotParams(lanes=1, width=6, k=k, max_beats=1, split=False, rounding=rounding,
                     encoded=encoded)
    values = range(-32, 32)
    form = {v: log_encode([v], 6, k, rounding)[0] if encoded else v for v in values}
    beats = [{"a": [form[a]], "b": [form[b]], "last": 1} for a in values for b in values]
    rng = random.Random(seed)
    got = _run(LogDotProduct(p), p.out_layout, beats, len(beats), rng)
    kept = {v: int(keep_leading_ones(np.array([v]), k, rounding)[0]) for v in values}
    assert [g["diff"] for g in got] == [kept[a] * kept[b] for a in values for b in values]


def test_logdot_latency():
    p = LogDotParams(lanes=8, width=8, max_beats=1)
    seen = valid_cycles(LogDotProduct(p), [{"a": [3] * 8, "b": [-5] * 8, "last": 1}], 10)
    assert seen[0] == p.latency and len(seen) == 1


@pytest.mark.parametrize("rounding", ["truncate", "half_up", "signed"])
def test_logdot_lane_emitted_once(rounding):
    """Each operand's magnitude appears once in the Verilog of a lane: the LOD
    tree reads it through signals. Built from bare expressions, a 24-bit lane
    repeated the negation in every use of every tree node (hundreds of copies;
    the DiT-shaped predictor was 6.6 MB of Verilog and took 11 minutes in
    Verilator). The signed reduction negates each magnitude once more (its
    residual)."""
    from amaranth.back import verilog
    text = verilog.convert(LogDotProduct(LogDotParams(lanes=1, width=24, k=2, max_beats=1,
                                                      split=False, rounding=rounding)))
    negations = text.count("= - ")
    want = 4 if rounding == "signed" else 2
    assert negations == want, f"{negations} negations in a one-lane unit (want {want})"


def test_parameters_are_validated():
    with pytest.raises(ValueError, match="lanes"):
        LogDotParams(lanes=0)
    with pytest.raises(ValueError, match="'k'"):
        LogDotParams(k=3)
