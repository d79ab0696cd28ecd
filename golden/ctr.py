"""Cached Token Reuse (DiSC), algorithms.md section 3.

At each step the latent's change since the previous step, averaged over each
token's patch, decides which tokens are recomputed (*fresh*); the others keep
their cached block outputs. Queries are the fresh tokens only; keys and
values are all tokens, the reused ones from a per-layer K/V cache.
"""

import numpy as np

from .dit import gelu, layer_norm, modulate, softmax
from .execution import OPS, Dense, dense_macs

METRICS = ("mean_abs", "l2", "std")


def token_change(dz, patch, metric="mean_abs"):
    """Per-token change ``[n, T]`` of a latent difference ``dz [n, C, H, W]``."""
    if metric not in METRICS:
        raise ValueError(f"metric: expected one of {METRICS}, got {metric!r}")
    n, c, hh, ww = dz.shape
    g = dz.reshape(n, c, hh // patch, patch, ww // patch, patch).transpose(0, 2, 4, 1, 3, 5)
    g = g.reshape(n, (hh // patch) * (ww // patch), -1).astype(np.float64)
    if metric == "mean_abs":
        return np.abs(g).mean(-1)
    if metric == "l2":
        return np.sqrt((g ** 2).sum(-1))
    return g.std(-1)


def choose_fresh(change, reuse, least_changed=True):
    """Fresh-token mask ``[n, T]``: the ``round(reuse * T)`` least-changed tokens are reused.

    Ties are broken by token index (lower index reused first) so that the
    count is exact. With ``least_changed`` false the most-changed tokens are
    reused instead (the opposite direction, a flag of the spec).
    """
    n, t = change.shape
    count = int(round(reuse * t))
    key = change if least_changed else -change
    order = np.argsort(key, axis=1, kind="stable")
    fresh = np.ones((n, t), dtype=bool)
    np.put_along_axis(fresh, order[:, :count], False, axis=1)
    return fresh


class CachedTokenReuse(Dense):
    """CTR as an executor of the sampling loop.

    Parameters
    ----------
    reuse : float
        Target fraction of reused tokens on a partial step (default 0.5).
    metric : {"mean_abs", "l2", "std"}
        Per-token change metric (default mean_abs).
    warmup : float
        Fraction of the steps, from the start, that are full (default 0.2).
    refresh : tuple of float or None
        Full steps at these fractions of the run (default ``(0.5,)``: one in
        the middle).
    starve : float
        Staleness boost ``exp(starve * steps since fresh)`` (default 0.1).
    least_changed : bool
        Reuse the least-changed tokens (default); false reuses the most-changed.
    control : bool
        Reuse a uniformly random set of the same size instead.
    seed : int
        Seed of the control.

    Members
    -------
    fresh : ndarray
        ``[2n, T]`` bool, the fresh tokens of the current step (both CFG halves
        share one mask, since they share the latent).
    """

    name = "ctr"

    def __init__(self, reuse=0.5, metric="mean_abs", warmup=0.2, refresh=(0.5,), starve=0.1,
                 least_changed=True, control=False, seed=0, keep_masks=False,
                 capture=()):
        super().__init__(keep_masks, capture)
        for nm, v, hi in (("reuse", reuse, 1.0), ("warmup", warmup, 1.0)):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0.0 <= v <= hi:
                raise ValueError(f"{nm}: expected a number in [0, {hi}], got {v!r}")
        if metric not in METRICS:
            raise ValueError(f"metric: expected one of {METRICS}, got {metric!r}")
        refresh = tuple(refresh or ())
        if any(not isinstance(f, (int, float)) or not 0.0 <= f < 1.0 for f in refresh):
            raise ValueError(f"refresh: expected fractions in [0, 1), got {refresh!r}")
        if not isinstance(starve, (int, float)) or isinstance(starve, bool) or starve < 0:
            raise ValueError(f"starve: expected a non-negative number, got {starve!r}")
        self.reuse, self.metric, self.warmup, self.refresh = float(reuse), metric, warmup, refresh
        self.starve, self.least_changed, self.control, self.seed = starve, bool(least_changed), \
            bool(control), seed
        if self.control:
            self.name = "ctr_random"
        elif not self.least_changed:
            self.name = "ctr_most_changed"

    def describe(self):
        return {"reuse": self.reuse, "metric": self.metric, "warmup": self.warmup,
                "refresh": list(self.refresh), "starve": self.starve,
                "least_changed": self.least_changed, "control": self.control}

    def reset(self, model, steps):
        super().reset(model, steps)
        self.prev = None
        self.stale = None
        self.out_cache = {}
        self.kv_cache = {}
        self.full_steps = set(range(int(round(self.warmup * steps)))) | \
            {int(f * steps) for f in self.refresh}

    def begin_step(self, step, z):
        super().begin_step(step, z)
        n = len(z)
        t = self.model.cfg.tokens
        if self.prev is None or step in self.full_steps:
            fresh = np.ones((n, t), dtype=bool)
        else:
            change = token_change(z - self.prev, self.model.cfg.patch, self.metric)
            change = change * np.exp(self.starve * self.stale)
            if self.control:
                rng = self.rng_for(self.seed, step)
                change = rng.random(change.shape)
            fresh = choose_fresh(change, self.reuse, self.least_changed)
        self.stale = np.where(fresh, 0, 0 if self.stale is None else self.stale + 1)
        self.prev = z
        self.fresh = np.concatenate([fresh, fresh])
        self.stats["fresh_fraction"].append((step, float(fresh.mean())))
        self.keep(-1, "fresh", fresh, t // 8 + (t % 8 > 0))

    def block(self, model, layer, x, c):
        cfg = model.cfg
        b, t, d = x.shape
        mods = model.modulation(layer, c)
        if layer not in self.out_cache:
            self.out_cache[layer] = np.zeros_like(x)
            self.kv_cache[layer] = (np.zeros((b, cfg.heads, t, cfg.head_dim), np.float32),
                                    np.zeros((b, cfg.heads, t, cfg.head_dim), np.float32))
        out = self.out_cache[layer].copy()
        kc, vc = self.kv_cache[layer]
        per_seq = dict.fromkeys(OPS, 0)
        for i in range(b):
            rows = np.flatnonzero(self.fresh[i])
            if rows.size == 0:
                continue
            sh1, sc1, g1, sh2, sc2, g2 = (m[i:i + 1] for m in mods)
            xi = x[i:i + 1, rows]
            h = modulate(layer_norm(xi), sh1, sc1)
            q, k, v = model.qkv(layer, h)
            kc[i:i + 1, :, rows] = k
            vc[i:i + 1, :, rows] = v
            o = softmax(model.scores(q, kc[i:i + 1])) @ vc[i:i + 1]
            xi = xi + g1[:, None] * model.linear(f"blocks.{layer}.proj", model.merge_heads(o))
            h = modulate(layer_norm(xi), sh2, sc2)
            y = model.linear(f"blocks.{layer}.fc2", gelu(model.linear(f"blocks.{layer}.fc1", h)))
            out[i, rows] = (xi + g2[:, None] * y)[0]
            # every GEMM is row-wise in the queries: its work scales with the fresh rows
            for op, macs in dense_macs(cfg).items():
                per_seq[op] += macs * rows.size // t
        dense = dense_macs(cfg)
        for op, done in per_seq.items():
            self.count(layer, op, dense[op] * b, done)
        self.out_cache[layer] = out
        return out

    def summary(self):
        out = super().summary()
        partial = [f for s, f in self.stats["fresh_fraction"] if s not in self.full_steps]
        out["reuse_ratio"] = 1.0 - float(np.mean(partial)) if partial else 0.0
        out["reuse_ratio_all_steps"] = 1.0 - float(np.mean(
            [f for _, f in self.stats["fresh_fraction"]]))
        return out
