"""cocotb sign-off of :class:`exdisc.hw.eager_predictor.EagerPredictor`.

Heads back to back with random valid gaps and backpressure, every keep bit
compared with the golden model: a random head whose operands sit at the ends
of the int8 range, then (when the parameters have the DiT's shape) heads of
the tiny DiT's sampling run (``EXDISC_HEADS``, default 1), whose expected
mask is :meth:`exdisc.golden.eager.EagerPrediction.predict`'s, the algorithm model
the workload runs; otherwise a second random head.
"""

import os

import cocotb
import numpy as np

from exdisc.sim.harness.runner import design_params
from exdisc.sim.harness.streams import check_stream_unit, test_rng
from exdisc.sim.stimulus.eager_predictor import predictor_job, random_head


def _dit_heads(dut, p):
    """(jobs, theta) of the DiT's heads, or None when the shape differs."""
    from exdisc.golden.eager import EagerPrediction, theta_to_integer
    from exdisc.golden.trace import model, prediction_operands
    cfg = model().cfg
    if (p.tokens, p.dim, p.head_dim) != (cfg.image_size ** 2 // cfg.patch ** 2, cfg.hidden,
                                         cfg.head_dim):
        dut._log.info("parameters do not fit the DiT (T %d, d %d, dh %d): random heads only",
                      cfg.image_size ** 2 // cfg.patch ** 2, cfg.hidden, cfg.head_dim)
        return None
    ops = prediction_operands(step=2, layer=1, k1=p.k1, k2=p.k2)
    ex = EagerPrediction(k1=p.k1, k2=p.k2, select=p.mode, top_k=p.top_k, rounding=p.rounding)
    keep, _ = ex.predict(model(), ops["layer"], ops["h"])
    heads = int(os.environ.get("EXDISC_HEADS", "1"))
    theta = [int(theta_to_integer(ex.theta, ops["sq"][h], ops["sk"][h], cfg.head_dim))
             for h in range(heads)]
    if p.mode == "max_relative":
        heads, theta = 1, theta[:1]              # one theta port: one head per run
    jobs = []
    for h in range(heads):
        beats, want = predictor_job(p, ops["x"], ops["wq"][h], ops["wk"][h], ops["bq"][h],
                                    ops["bk"][h], theta[h])
        model_bits = [{"keep": int(keep[0, h, i, j]), "last": int(j == p.tokens - 1)}
                      for i in range(p.tokens) for j in range(p.tokens)]
        assert want == model_bits, "the unit vectors disagree with EagerPrediction.predict"
        jobs.append((beats, want))
        dut._log.info("DiT head %d: %.1f %% of the scores kept", h, 100 * keep[0, h].mean())
    return jobs, theta[0]


@cocotb.test()
async def predictor_heads(dut):
    _, p = design_params()
    rng, seed = test_rng(dut._log, "eager-top")
    nrng = np.random.default_rng(seed)
    dit = _dit_heads(dut, p)
    theta = dit[1] if dit else int(nrng.integers(0, 1 << (p.score_width // 2)))
    if p.mode == "max_relative":
        dut.theta.value = theta
    jobs = [predictor_job(p, *random_head(p, nrng, extreme=True), theta)]
    jobs += dit[0] if dit else [predictor_job(p, *random_head(p, nrng, extreme=False), theta)]
    # a head's stage 1 runs before its first keep bit, and its stage 2 before the
    # next head's first beat is taken: allow either under gaps and backpressure
    max_idle = 4 * max(p.stage1_beats, p.stage2_beats) + 10_000
    await check_stream_unit(dut, p, jobs, rng, seed, "head", max_idle=max_idle,
                            work=len(jobs) * p.stage2_beats)
