"""FFN-Reuse's mask generator against golden.quant.fc1_mask, in the Amaranth
simulator and (sign-off) on the emitted Verilog."""

import random

import numpy as np
import pytest

from exdisc.hw.mask_gen import MaskGenerator, MaskGenParams
from exdisc.sim.stimulus.mask_gen import mask_rows, trace_mask_rows
from exdisc.sim.harness.pysim import run_stream_unit


def _run(p, jobs, rng):
    beats = [b for bs, _ in jobs for b in bs]
    return run_stream_unit(MaskGenerator(p), {"i": beats}, len(jobs), rng, valid_prob=0.7,
                           ready_prob=0.6, layout=p.out_layout)[0]


@pytest.mark.parametrize("cols, acc_width", [(1, 2), (5, 8), (16, 32)])
def test_mask_gen_random(cols, acc_width, seed):
    p = MaskGenParams(cols=cols, acc_width=acc_width)
    rng = random.Random(seed)
    jobs = mask_rows(p, rng, 80)
    assert _run(p, jobs, rng) == [w for _, ws in jobs for w in ws]


def test_mask_gen_real_fc1(seed):
    p = MaskGenParams(cols=16, acc_width=32)
    jobs, mask_int = trace_mask_rows(p, rows=16)
    got = _run(p, jobs, random.Random(seed))
    # The generator writes exactly the trace's quantized FFN-Reuse mask.
    bits = np.array([[(g["mask"] >> c) & 1 for c in range(16)] for g in got], dtype=bool)
    assert np.array_equal(bits, mask_int)


@pytest.mark.parametrize("field, value", [("cols", 0), ("acc_width", 1), ("acc_width", 49)])
def test_mask_gen_params_rejected(field, value):
    with pytest.raises(ValueError, match=repr(field)):
        MaskGenParams(**{field: value})


@pytest.mark.parametrize("acc_width", [2, 4, 6])
def test_threshold_for_width_keeps_every_mask(acc_width):
    from exdisc.golden.mask_gen import fc1_mask, threshold_for_width
    acc = np.arange(-(1 << (acc_width - 1)), 1 << (acc_width - 1))
    for t in [-(1 << 62), -(1 << acc_width) - 3, -(1 << (acc_width - 1)) - 1, -1, 0, 3,
              (1 << (acc_width - 1)) - 1, (1 << acc_width) + 5, 1 << 62]:
        narrow = threshold_for_width(np.array([t]), acc_width)[0]
        assert -(1 << acc_width) <= narrow < (1 << acc_width)
        assert np.array_equal(fc1_mask(acc[:, None], [narrow]), fc1_mask(acc[:, None], [t]))
