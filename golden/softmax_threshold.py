"""Softmax Thresholding with Sparsity Mask Reuse (DiSC), algorithms.md section 4.

On mask-generation steps attention is exact and the probabilities above
``theta`` (plus each row's maximum) become the mask of that layer and head;
on the steps after, each query attends only to the keys of its stored mask,
with the softmax renormalised over them.
"""

import numpy as np

from .dit import softmax
from .execution import Dense


def threshold_mask(p, theta, block=1):
    """Keep mask of probabilities ``p [..., T, T]``: ``p > theta`` and each row's argmax.

    With ``block > 1`` the mask is block-granular: a ``block x block`` block is
    kept whole if any of its elements is kept.
    """
    keep = p > theta
    np.put_along_axis(keep, np.argmax(p, axis=-1)[..., None], True, axis=-1)
    if block > 1:
        *lead, t, u = keep.shape
        blocks = keep.reshape(*lead, t // block, block, u // block, block).any(axis=(-3, -1))
        keep = np.repeat(np.repeat(blocks, block, axis=-2), block, axis=-1)
    return keep


def mask_bytes(tokens, heads, block=1):
    """Bytes of one layer's mask for one sequence."""
    cells = heads * (tokens // block) ** 2
    return (cells + 7) // 8


class SoftmaxThreshold(Dense):
    """ST as an executor of the sampling loop.

    Parameters
    ----------
    theta : float
        Probability threshold (default 1e-3).
    period : int
        A mask-generation step every ``period`` steps, ``R`` of the spec
        (default 5).
    warmup : float
        Fraction of the steps, from the start, that generate masks (default 0.2,
        as CTR's warmup).
    block : int
        Mask granularity (default 1: element); must divide the token count.
    control : bool
        The control of the spec: a mask made at every step from that step's
        exact probabilities (no reuse), applied the same way.

    Members
    -------
    stored : dict
        ``layer -> keep [B, heads, T, T]`` of the last generation step.
    """

    name = "st"

    def __init__(self, theta=1e-3, period=5, warmup=0.2, block=1, control=False,
                 keep_masks=False, capture=()):
        super().__init__(keep_masks, capture)
        if not isinstance(theta, (int, float)) or isinstance(theta, bool) or not 0 <= theta < 1:
            raise ValueError(f"theta: expected a number in [0, 1), got {theta!r}")
        if not isinstance(period, int) or isinstance(period, bool) or period < 1:
            raise ValueError(f"period: expected a positive integer, got {period!r}")
        if not isinstance(warmup, (int, float)) or isinstance(warmup, bool) or not 0 <= warmup <= 1:
            raise ValueError(f"warmup: expected a number in [0, 1], got {warmup!r}")
        if not isinstance(block, int) or isinstance(block, bool) or block < 1:
            raise ValueError(f"block: expected a positive integer, got {block!r}")
        self.theta, self.period, self.warmup, self.block_size = float(theta), period, warmup, block
        self.control = bool(control)
        if self.control:
            self.name = "st_no_reuse"

    def describe(self):
        return {"theta": self.theta, "period": self.period, "warmup": self.warmup,
                "block": self.block_size, "control": self.control}

    def reset(self, model, steps):
        super().reset(model, steps)
        if model.cfg.tokens % self.block_size:
            raise ValueError(f"block: must divide the token count {model.cfg.tokens}, "
                             f"got {self.block_size!r}")
        self.stored = {}
        self.generation_steps = set(range(int(round(self.warmup * steps)))) | \
            set(range(0, steps, self.period))

    def attend(self, model, layer, h, q, k, v):
        cfg = model.cfg
        b, t = q.shape[0], q.shape[2]
        s = model.scores(q, k)
        dense = b * t * t * cfg.hidden
        generate = self.step in self.generation_steps or layer not in self.stored
        if generate or self.control:
            p = softmax(s)
            keep = threshold_mask(p, self.theta, self.block_size)
            self.stored[layer] = keep
            self.keep(layer, "attn", keep, mask_bytes(t, cfg.heads, self.block_size))
            if generate and not self.control:
                self.count(layer, "qk", dense, dense)
                self.count(layer, "pv", dense, dense)
                return p @ v
        keep = self.stored[layer]
        nnz = int(keep.sum()) * cfg.head_dim
        self.count(layer, "qk", dense, nnz)
        self.count(layer, "pv", dense, nnz)
        self.stats["density"].append((self.step, layer, float(keep.mean())))
        return softmax(np.where(keep, s, -np.inf)) @ v

    def summary(self):
        out = super().summary()
        out["attention_macs_skipped"] = self.skipped(("qk", "pv"))
        dens = [x for _, _, x in self.stats["density"]]
        out["mask_sparsity"] = 1.0 - float(np.mean(dens)) if dens else 0.0
        return out


#: The thresholds :class:`AttentionProfile` measures.
PROFILE_THETAS = (1e-4, 1e-3, 2e-3, 3e-3, 1e-2)
#: Row tiles of queries over which it measures the union of kept keys.
PROFILE_TILES = (8, 16)


class AttentionProfile(Dense):
    """The dense run, measuring how ST's thresholds meet each head's attention.

    Per layer and head, over every step, sequence and query: the entropy of
    the attention row relative to a uniform row's (1: uniform), and for each
    threshold of :data:`PROFILE_THETAS` the share of entries ST's mask keeps
    and the probability mass it drops, and the share of keys some query of
    a row tile of :data:`PROFILE_TILES` queries keeps: what a dense engine
    computing a tile of queries over the union of their keys would still
    compute. A head that pools almost uniformly has every probability near
    ``1 / T``: thresholds below that keep nearly all of it, thresholds above
    drop nearly all of it.
    """

    name = "attention_profile"

    def reset(self, model, steps):
        super().reset(model, steps)
        shape = (model.cfg.depth, model.cfg.heads)
        for rows in PROFILE_TILES:
            if model.cfg.tokens % rows:
                raise ValueError(f"tokens: row tiles of {rows} queries must divide them, "
                                 f"got {model.cfg.tokens!r}")
        self.entropy = np.zeros(shape)
        self.kept = np.zeros((len(PROFILE_THETAS),) + shape)
        self.dropped = np.zeros((len(PROFILE_THETAS),) + shape)
        self.union = np.zeros((len(PROFILE_TILES), len(PROFILE_THETAS)) + shape)
        self.rows_by = np.zeros(shape)

    def attend(self, model, layer, h, q, k, v):
        p = softmax(model.scores(q, k)).astype(np.float64)     # [B, H, T, T]
        b, heads, t, _ = p.shape
        ent = -(p * np.log(np.where(p > 0, p, 1.0))).sum(-1) / np.log(t)
        self.entropy[layer] += ent.sum((0, 2))
        self.rows_by[layer] += b * t
        for n, theta in enumerate(PROFILE_THETAS):
            keep = threshold_mask(p, theta)
            self.kept[n, layer] += keep.mean(-1).sum((0, 2))
            self.dropped[n, layer] += (1.0 - np.where(keep, p, 0.0).sum(-1)).sum((0, 2))
            for i, tile in enumerate(PROFILE_TILES):
                union = keep.reshape(b, heads, t // tile, tile, t).any(-2)
                # counted once per query of the tile, so that it averages as the rest
                self.union[i, n, layer] += union.mean(-1).sum((0, 2)) * tile
        return super().attend(model, layer, h, q, k, v)

    def summary(self):
        out = super().summary()
        # a kept mass that sums past 1 by rounding is no negative drop
        per = lambda a: np.clip(a / self.rows_by, 0.0, None).round(4).tolist()
        out["attention_profile"] = {
            "thetas": list(PROFILE_THETAS), "entropy": per(self.entropy),
            "kept": [per(a) for a in self.kept], "dropped": [per(a) for a in self.dropped],
            "tiles": list(PROFILE_TILES),
            "union": [[per(a) for a in tile] for tile in self.union]}
        return out
