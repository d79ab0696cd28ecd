"""FFN-Reuse (EXION): inter-step output sparsity of the FFN, per algorithms.md section 1.

A dense step computes the whole FFN and keeps the FC1 outputs above ``tau``
as the recompute mask ``M``, plus ``P = (H * ~M) @ W2``, the FC2 contribution
of the elements that will be reused. The sparse steps that follow compute FC1
only where ``M`` (output-sparse) and FC2 only over those elements
(input-sparse), adding the cached ``P``.
"""

import numpy as np

from .dit import gelu
from .execution import Dense


def _check_int(name, value, lo):
    if not isinstance(value, int) or isinstance(value, bool) or value < lo:
        raise ValueError(f"{name}: expected an integer >= {lo}, got {value!r}")


class FFNReuse(Dense):
    """FFN-Reuse as an executor of the sampling loop.

    Parameters
    ----------
    period : int
        A dense step every ``period`` steps (default 5 **[choice]**).
    warmup : int
        Steps ``s < warmup`` are all dense (default 2 **[choice]**).
    sparsity : float
        Target FC1 sparsity of the quantile policy: ``tau`` is the
        ``sparsity``-quantile of ``H`` per layer and sequence (default 0.9).
    tau : float or None
        A fixed threshold instead of the quantile policy.
    fc2 : {"cached", "merged"}
        ``cached``: ``Y = P + (Hn * M) @ W2 + b2`` (what the hardware does).
        ``merged``: ``Y = where(M, Hn, H) @ W2 + b2`` (the self-check; it does
        the full FC2, and is counted so).
    control : bool
        Replace each mask by a random one of the same density (per layer and
        sequence): the control of algorithms.md section 5.
    seed : int
        Seed of the control masks.

    Members
    -------
    state : dict
        ``layer -> (M, P, H)`` of the last dense step.
    """

    name = "ffn_reuse"

    def __init__(self, period=5, warmup=2, sparsity=0.9, tau=None, fc2="cached",
                 control=False, seed=0, keep_masks=False, capture=()):
        super().__init__(keep_masks, capture)
        _check_int("period", period, 1)
        _check_int("warmup", warmup, 0)
        if not isinstance(sparsity, (int, float)) or isinstance(sparsity, bool) \
                or not 0.0 <= sparsity < 1.0:
            raise ValueError(f"sparsity: expected a number in [0, 1), got {sparsity!r}")
        if tau is not None and (not isinstance(tau, (int, float)) or isinstance(tau, bool)):
            raise TypeError(f"tau: expected a number or None, got {tau!r}")
        if fc2 not in ("cached", "merged"):
            raise ValueError(f"fc2: expected 'cached' or 'merged', got {fc2!r}")
        _check_int("seed", seed, 0)
        self.period, self.warmup, self.sparsity, self.tau = period, warmup, sparsity, tau
        self.fc2, self.control, self.seed = fc2, bool(control), seed
        if self.control:
            self.name = "ffn_reuse_random"

    def describe(self):
        return {"period": self.period, "warmup": self.warmup, "sparsity": self.sparsity,
                "tau": self.tau, "fc2": self.fc2, "control": self.control}

    def reset(self, model, steps):
        super().reset(model, steps)
        self.state = {}

    def is_dense_step(self, step):
        return step < self.warmup or step % self.period == 0

    def threshold(self, h_act):
        """``tau`` per sequence, ``[B, 1, 1]``."""
        b = h_act.shape[0]
        if self.tau is not None:
            return np.full((b, 1, 1), self.tau, dtype=np.float64)
        return np.quantile(h_act.reshape(b, -1).astype(np.float64), self.sparsity,
                           axis=1).reshape(b, 1, 1)

    def make_mask(self, layer, h_act):
        tau = self.threshold(h_act)
        mask = h_act > tau
        if self.control:
            rng = self.rng_for(self.seed, self.step, layer)
            flat = mask.reshape(len(mask), -1)
            shuffled = np.zeros_like(flat)
            for i, row in enumerate(flat):
                shuffled[i, rng.permutation(row.size)[:int(row.sum())]] = True
            mask = shuffled.reshape(mask.shape)
        return mask, tau

    def ffn(self, model, layer, h):
        w1, b1 = model.weight(layer, "fc1")
        w2, b2 = model.weight(layer, "fc2")
        dense_fc = h.shape[0] * h.shape[1] * w1.shape[0] * w1.shape[1]
        if self.is_dense_step(self.step) or layer not in self.state:
            act = gelu(h @ w1 + b1)
            mask, tau = self.make_mask(layer, act)
            reused = act * ~mask
            self.state[layer] = (mask, (reused @ w2).astype(np.float32), act)
            self.keep(layer, "ffn", mask, mask[0].size // 8)
            self.stats["tau"].append((self.step, layer, tau.ravel().tolist()))
            self.count(layer, "fc1", dense_fc, dense_fc)
            self.count(layer, "fc2", dense_fc, dense_fc)
            return act @ w2 + b2
        mask, partial, act_dense = self.state[layer]
        # FC1 only where the mask says; computing all and masking is the same numbers
        fresh = gelu(h @ w1 + b1) * mask
        nnz = int(mask.sum()) * w1.shape[0]
        self.count(layer, "fc1", dense_fc, nnz)
        self.stats["density"].append((self.step, layer, float(mask.mean())))
        if self.fc2 == "cached":
            self.count(layer, "fc2", dense_fc, nnz)
            return partial + fresh @ w2 + b2
        self.count(layer, "fc2", dense_fc, dense_fc)
        return np.where(mask, fresh, act_dense) @ w2 + b2

    def summary(self):
        out = super().summary()
        out["ffn_macs_skipped"] = self.skipped(("fc1", "fc2"))
        dens = [d for _, _, d in self.stats["density"]]
        out["fc1_sparsity"] = 1.0 - float(np.mean(dens)) if dens else 0.0
        return out


def sparse_step_int(x, w1, w2, h_dense, h, mask, acc_width=32):
    """The integer form of :meth:`FFNReuse.ffn`'s sparse step (``fc2="cached"``),
    word for word what the engine computes on int8 operands.

    ``x [T, d]`` is the sparse step's FFN input, ``w1 [d, F]`` and ``w2 [F, d]``
    the weights, ``h_dense`` and ``h [T, F]`` the quantized GELU outputs of the
    dense and the sparse step (one scale), ``mask [T, F]`` the dense step's
    recompute mask. Every sum wraps to ``acc_width`` bits like the engine's
    accumulators. Returns a dict:

    ``fc1``
        ``x @ w1`` where ``mask``, 0 elsewhere (output-sparse: only those are computed);
    ``partial``
        ``(h_dense * ~mask) @ w2``, the FC2 contribution of the reused
        elements, cached at the dense step;
    ``fc2``
        ``partial + (h * mask) @ w2``: the sparse step's FC2 (input-sparse: only
        the masked elements of ``h`` are multiplied).
    """
    from .systolic import wrap
    mask = np.asarray(mask, dtype=bool)
    x, w1, w2, h_dense, h = (np.asarray(v, dtype=np.int64) for v in (x, w1, w2, h_dense, h))
    if mask.shape != (x.shape[0], w1.shape[1]) or h.shape != mask.shape \
            or h_dense.shape != mask.shape or w2.shape[0] != mask.shape[1]:
        raise ValueError(f"shapes do not chain: x {x.shape}, w1 {w1.shape}, w2 {w2.shape}, "
                         f"h_dense {h_dense.shape}, h {h.shape}, mask {mask.shape}")
    fc1 = np.where(mask, wrap(x @ w1, acc_width).astype(np.int64), 0)
    partial = wrap((h_dense * ~mask) @ w2, acc_width).astype(np.int64)
    fc2 = wrap(partial + (h * mask) @ w2, acc_width).astype(np.int64)
    return {"fc1": fc1, "partial": partial, "fc2": fc2}


def output_rows(acc, partial=0, threshold=None, add=False, negate=False, acc_width=32):
    """The FFN engine's output path on result rows (bit-exact with
    :class:`exdisc.hw.ffn_engine.FFNEngine`).

    ``acc [..., C]`` are the engine's accumulators, ``partial [..., C]`` a
    cached partial sum, ``threshold [..., C]`` the FC1 integer thresholds
    (:func:`exdisc.golden.mask_gen.fc1_integer_threshold`, ``acc_width + 1`` bits) and
    ``add``, ``negate`` per row (broadcast against ``acc[..., 0]``). Returns
    ``(row, mask)``: ``row = (partial if add else 0) + (-acc if negate else
    acc)``, wrapped to ``acc_width`` bits, and ``mask = acc > threshold``
    (:func:`exdisc.golden.mask_gen.fc1_mask`; the dense step's recompute mask when
    ``acc`` is FC1; None without ``threshold``). The dense step caches
    ``P = dense - masked`` with ``add`` and ``negate`` (``partial`` the dense
    FC2), the sparse step adds ``P + S`` with ``add`` alone.
    """
    from .mask_gen import fc1_mask
    from .systolic import wrap
    # object arrays: sums of two 64-bit accumulators must not overflow before the wrap
    acc, partial = np.asarray(acc).astype(object), np.asarray(partial).astype(object)
    add = np.asarray(add, bool)
    negate = np.asarray(negate, bool)
    if acc.ndim:                    # per-row flags apply to every column of the row
        add, negate = add[..., None], negate[..., None]
    row = np.where(add, partial, 0) + np.where(negate, -acc, acc)
    mask = None if threshold is None else fc1_mask(acc, np.asarray(threshold).astype(object))
    return wrap(row, acc_width).astype(np.int64), mask
