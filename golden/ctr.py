"""Cached Token Reuse (DiSC), algorithms.md section 3.

At each step the latent's change since the previous step, averaged over each
token's patch, decides which tokens are recomputed (*fresh*); the others keep
their cached block outputs. Queries are the fresh tokens only; keys and
values are all tokens, the reused ones from a per-layer K/V cache.
"""

import numpy as np

from .dit import gelu, layer_norm, modulate, softmax
from .execution import Dense, dense_macs

METRICS = ("mean_abs", "l2", "std")
#: What a token's change is measured against: the previous step's latent, or
#: the latent of the step at which the token was last fresh (the step its
#: cached outputs come from).
REFERENCES = ("previous", "fresh")
#: Controls of the same reuse ratio: a uniformly random choice, or the
#: tokens whose caches are oldest recomputed (ties at random).
CONTROLS = (None, "random", "age")
#: How staleness enters the score: an additive reuse history (the default) or
#: the exponential of the steps since fresh (algorithms.md's first form).
STALENESS = ("history", "exp")


def patches(dz, patch):
    """``[n, C, H, W]`` to ``[n, T, C * patch * patch]``: each token's values in one row."""
    n, c, hh, ww = dz.shape
    g = dz.reshape(n, c, hh // patch, patch, ww // patch, patch).transpose(0, 2, 4, 1, 3, 5)
    return g.reshape(n, (hh // patch) * (ww // patch), -1)


def token_change(dz, patch, metric="mean_abs"):
    """Per-token change ``[n, T]`` of a latent difference ``dz [n, C, H, W]``."""
    if metric not in METRICS:
        raise ValueError(f"metric: expected one of {METRICS}, got {metric!r}")
    g = patches(dz, patch).astype(np.float64)
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


def with_staleness(change, stale, starve, least_changed=True):
    """``change`` weighted by ``exp(+-starve * stale)`` so that, in either
    direction, a token reused for longer is more likely to be recomputed.

    Reusing the least changed, a stale token's change is scaled up; reusing
    the most changed, it is scaled down.
    """
    return change * np.exp((starve if least_changed else -starve) * stale)


def patch_mask(tokens, patch):
    """``[n, T]`` per-token flags as a ``[n, 1, H, W]`` mask of their patches' pixels."""
    n, t = tokens.shape
    grid = int(round(np.sqrt(t)))
    m = tokens.reshape(n, grid, grid)
    return np.repeat(np.repeat(m, patch, axis=1), patch, axis=2)[:, None]


def reuse_block(model, layer, x, c, fresh, k_cache, v_cache, out_cache):
    """One block of a CTR step in float: each sample's ``fresh [B, T]`` rows
    of ``x [B, T, d]`` computed, their keys and values written into the
    caches ``[B, H, T, dh]``, their queries attending over every token's
    cached key and value, and their outputs written into ``out_cache [B, T,
    d]``; the other rows' outputs are the cache's. Returns the new
    ``(out, k_cache, v_cache)`` (copies)."""
    mods = model.modulation(layer, c)
    out, kc, vc = out_cache.copy(), k_cache.copy(), v_cache.copy()
    for i in range(len(x)):
        rows = np.flatnonzero(fresh[i])
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
    return out, kc, vc


class CachedTokenReuse(Dense):
    """CTR as an executor of the sampling loop.

    Parameters
    ----------
    reuse : float
        Target fraction of reused tokens on a partial step (default 0.5).
    metric : {"mean_abs", "l2", "std"}
        Per-token change metric (default mean_abs).
    reference : {"previous", "fresh"}
        The latent a token's change is measured against: the previous
        step's, or the one of the token's last fresh step.
    warmup : float
        Fraction of the steps, from the start, that are full (default 0.2).
    refresh : tuple of float or None
        Full steps at these fractions of the run (default ``(0.5,)``: one in
        the middle).
    staleness : {"history", "exp"}
        ``"history"`` (default): the tokens with the smallest ``h + weight *
        m / mean(m)`` are reused, where ``m`` is the change and ``h`` the
        token's reuse history, ``h <- decay * h + (1 if reused)`` after each
        step. ``"exp"``: the smallest ``m * exp(starve * steps since
        fresh)``. Either way a token reused often or long is recomputed, in
        either direction (reusing the most changed, ``m``'s sign flips).
    weight, decay : float
        The history form's weight of the change (default 0.5) and the
        history's decay per step (default 0.75).
    starve : float
        The exponential form's staleness weight (default 0.1).
    least_changed : bool
        Reuse the least-changed tokens (default); false reuses the most-changed.
    control : {None, "random", "age"}
        Instead of the metric, reuse a uniformly random set of the same size,
        or recompute the tokens whose caches are oldest (ties at random).
        ``True`` means ``"random"``.
    seed : int
        Seed of the controls' random choices.

    Members
    -------
    fresh : ndarray
        ``[2n, T]`` bool, the fresh tokens of the current step (both CFG halves
        share one mask, since they share the latent).
    """

    name = "ctr"

    def __init__(self, reuse=0.5, metric="mean_abs", reference="previous", warmup=0.2,
                 refresh=(0.5,), staleness="history", weight=0.5, decay=0.75, starve=0.1,
                 least_changed=True, control=None, seed=0, keep_masks=False, capture=()):
        super().__init__(keep_masks, capture)
        for nm, v, hi in (("reuse", reuse, 1.0), ("warmup", warmup, 1.0)):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0.0 <= v <= hi:
                raise ValueError(f"{nm}: expected a number in [0, {hi}], got {v!r}")
        if metric not in METRICS:
            raise ValueError(f"metric: expected one of {METRICS}, got {metric!r}")
        if reference not in REFERENCES:
            raise ValueError(f"reference: expected one of {REFERENCES}, got {reference!r}")
        refresh = tuple(refresh or ())
        if any(not isinstance(f, (int, float)) or not 0.0 <= f < 1.0 for f in refresh):
            raise ValueError(f"refresh: expected fractions in [0, 1), got {refresh!r}")
        if staleness not in STALENESS:
            raise ValueError(f"staleness: expected one of {STALENESS}, got {staleness!r}")
        for nm, v, hi in (("weight", weight, np.inf), ("decay", decay, 1.0),
                          ("starve", starve, np.inf)):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0.0 <= v <= hi:
                raise ValueError(f"{nm}: expected a number in [0, {hi}], got {v!r}")
        if control is True:
            control = "random"
        if control is False:
            control = None
        if control not in CONTROLS:
            raise ValueError(f"control: expected one of {CONTROLS}, got {control!r}")
        self.reuse, self.metric, self.reference = float(reuse), metric, reference
        self.warmup, self.refresh = warmup, refresh
        self.staleness, self.weight, self.decay, self.starve = staleness, weight, decay, starve
        self.least_changed, self.control, self.seed = bool(least_changed), control, seed
        if self.control:
            self.name = f"ctr_{self.control}"
        elif not self.least_changed:
            self.name = "ctr_most_changed"

    def describe(self):
        return {"reuse": self.reuse, "metric": self.metric, "reference": self.reference,
                "warmup": self.warmup, "refresh": list(self.refresh), "staleness": self.staleness,
                "weight": self.weight, "decay": self.decay, "starve": self.starve,
                "least_changed": self.least_changed, "control": self.control}

    def reset(self, model, steps):
        super().reset(model, steps)
        self.ref = None
        self.stale = None
        self.history = None
        self.out_cache = {}
        self.kv_cache = {}
        self.full_steps = set(range(int(round(self.warmup * steps)))) | \
            {int(f * steps) for f in self.refresh}

    def score(self, step, z):
        """``[n, T]``: the tokens with the lowest scores are reused."""
        if self.control:
            ties = self.rng_for(self.seed, step).random((len(z), self.model.cfg.tokens))
            return ties if self.control == "random" else self.stale + ties
        change = token_change(z - self.ref, self.model.cfg.patch, self.metric)
        sign = 1.0 if self.least_changed else -1.0
        if self.staleness == "exp":
            return sign * with_staleness(change, self.stale, self.starve, self.least_changed)
        mean = change.mean(axis=1, keepdims=True)
        return self.history + sign * self.weight * change / np.maximum(mean, np.finfo(float).tiny)

    def begin_step(self, step, z):
        super().begin_step(step, z)
        n = len(z)
        t = self.model.cfg.tokens
        if self.ref is None or step in self.full_steps:
            fresh = np.ones((n, t), dtype=bool)
        else:
            fresh = choose_fresh(self.score(step, z), self.reuse)
        self.stale = np.where(fresh, 0, 0 if self.stale is None else self.stale + 1)
        self.history = (~fresh).astype(float) if self.history is None else \
            self.decay * self.history + ~fresh
        if self.reference == "previous" or self.ref is None:
            self.ref = z.copy()
        else:
            self.ref = np.where(patch_mask(fresh, self.model.cfg.patch), z, self.ref)
        self.fresh = np.concatenate([fresh, fresh])
        self.stats["fresh_fraction"].append((step, float(fresh.mean())))
        self.keep(-1, "fresh", fresh, t // 8 + (t % 8 > 0))

    def block(self, model, layer, x, c):
        cfg = model.cfg
        b, t, d = x.shape
        if layer not in self.out_cache:
            self.out_cache[layer] = np.zeros_like(x)
            self.kv_cache[layer] = (np.zeros((b, cfg.heads, t, cfg.head_dim), np.float32),
                                    np.zeros((b, cfg.heads, t, cfg.head_dim), np.float32))
        out, kc, vc = reuse_block(model, layer, x, c, self.fresh, *self.kv_cache[layer],
                                  self.out_cache[layer])
        # every GEMM is row-wise in the queries: its work scales with the fresh rows
        dense = dense_macs(cfg)
        for op, macs in dense.items():
            done = sum(macs * int(f.sum()) // t for f in self.fresh[:b])
            self.count(layer, op, macs * b, done)
        self.out_cache[layer], self.kv_cache[layer] = out, (kc, vc)
        return out

    def summary(self):
        out = super().summary()
        partial = [f for s, f in self.stats["fresh_fraction"] if s not in self.full_steps]
        out["reuse_ratio"] = 1.0 - float(np.mean(partial)) if partial else 0.0
        out["reuse_ratio_all_steps"] = 1.0 - float(np.mean(
            [f for _, f in self.stats["fresh_fraction"]]))
        return out
