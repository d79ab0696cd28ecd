"""The tiny DiT with every block run by the golden core model.

:class:`IntegerCore` is an executor of the sampling loop (as the algorithms
are): each block of each step is compiled (:mod:`.core_compile`) and run by
the golden core model (:mod:`.core`): int8 GEMMs with int32 accumulators, the
integer non-linear operations, the gated residual adds on an int32 residual
stream. Between blocks the residual stream is dequantized, and the embedding,
the conditioning path and the final layer stay float (as on the host).

Scales are calibrated per block and step on the batch being sampled (one
scale per tensor for the whole batch): the best case of a static
calibration, stated as such in the results.
"""

import numpy as np

from . import core, core_compile as cc
from .core import CoreConfig
from .execution import Dense

__all__ = ["IntegerCore"]

#: The operations a block counts, as :class:`.execution.Dense` does.
_GEMMS = ("qkv", "qk", "pv", "proj", "fc1", "fc2")


class IntegerCore(Dense):
    """Every block through the golden core model.

    Parameters
    ----------
    cfg : CoreConfig
        The buffers (the default fits the DiT's block).
    chunk : int
        Samples per run of the core model (memory; the program is the same).
    theta : float
        ST's threshold for the keep masks softmax writes.

    Members
    -------
    core_stats : dict
        Work summed over every block run and sample: MACs, non-linear rows,
        bytes loaded and stored.
    """

    name = "integer_core"

    def __init__(self, cfg=None, chunk=64, theta=1e-3):
        super().__init__()
        self.cfg = cfg or CoreConfig(dram_bytes=1 << 18)
        if not isinstance(self.cfg, CoreConfig):
            raise TypeError(f"cfg: expected a CoreConfig, got {self.cfg!r}")
        if not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1:
            raise ValueError(f"chunk: expected a positive integer, got {chunk!r}")
        self.chunk, self.theta = chunk, float(theta)

    def describe(self):
        return {"chunk": self.chunk, "theta": self.theta, "core": self.cfg.as_dict()}

    def reset(self, model, steps):
        super().reset(model, steps)
        self.core_stats = {"blocks": 0, "macs": 0, "nonlinear_rows": 0, "load_bytes": 0,
                           "store_bytes": 0}

    def summary(self):
        return {**super().summary(), "core": dict(self.core_stats)}

    def block(self, model, layer, x, c):
        b = x.shape[0]
        for op in _GEMMS:
            self.count_dense(layer, op, b)
        scales = cc.calibrate(model, layer, x, c)
        out = []
        for lo in range(0, b, self.chunk):
            part = slice(lo, lo + self.chunk)
            comp = cc.compile_block(model, layer, x[part], c[part], self.cfg, scales, self.theta)
            result = core.run(comp.program, comp.dram, self.cfg, check=True)
            out.append(cc.block_output(comp, result))
            # the model's counts are per sample: every sample runs the program
            for key in ("macs", "nonlinear_rows", "load_bytes", "store_bytes"):
                self.core_stats[key] += result.stats[key] * comp.dram.shape[0]
        self.core_stats["blocks"] += 1
        return np.concatenate(out).astype(np.float32)
