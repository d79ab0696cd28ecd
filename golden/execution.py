"""How a DiT block is computed: the dense executor that every algorithm extends.

An executor is handed each block of each sampling step. :class:`Dense`
computes it exactly and records the multiply-accumulates of every GEMM of the
block; an algorithm overrides :meth:`Dense.attention`, :meth:`Dense.attend`,
:meth:`Dense.ffn` or the whole :meth:`Dense.block`, and records what it really
did with :meth:`Dense.count`. The counts are per batch (both halves of the
classifier-free-guidance batch), so a ratio of done to dense is the fraction
of the work that remains.
"""

from collections import defaultdict

import numpy as np

from .dit import gelu, layer_norm, modulate, softmax

#: The GEMMs of a block, in order.
OPS = ("qkv", "qk", "pv", "proj", "fc1", "fc2")


def dense_macs(cfg, tokens=None):
    """Multiply-accumulates of each GEMM of one block for one sequence."""
    t = cfg.tokens if tokens is None else tokens
    d = cfg.hidden
    return {"qkv": t * d * 3 * d, "qk": t * t * d, "pv": t * t * d, "proj": t * d * d,
            "fc1": t * d * cfg.ffn_dim, "fc2": t * cfg.ffn_dim * d}


class Dense:
    """The exact block; the reference every algorithm is measured against.

    Members
    -------
    step : int
        The sampling step being computed (set by :meth:`begin_step`).
    work : dict
        ``(step, layer, op) -> [dense MACs, done MACs]``.
    mask_bytes : dict
        ``layer -> bytes`` of mask storage one sequence needs for that layer
        (the largest the algorithm ever held).
    masks : dict
        ``(step, layer, kind) -> ndarray`` of the masks used, kept when
        ``keep_masks`` is true (the workload cuts hardware tiles from them).
    captured : dict
        ``(step, layer, "attn" | "ffn") -> ndarray``: the normalised, modulated
        input ``[B, T, d]`` of the attention and the FFN at the ``(step, layer)``
        pairs listed in ``capture``.
    """

    name = "dense"

    def __init__(self, keep_masks=False, capture=()):
        self.keep_masks = bool(keep_masks)
        self.capture = set(capture)

    def describe(self):
        """The algorithm's parameters, for reports."""
        return {}

    def reset(self, model, steps):
        self.model = model
        self.steps = steps
        self.step = -1
        self.work = defaultdict(lambda: [0, 0])
        self.mask_bytes = defaultdict(int)
        self.masks = {}
        self.stats = defaultdict(list)
        self.captured = {}

    def begin_step(self, step, z):
        """Called by the sampler before step ``step`` with the latent ``z [n, C, H, W]``."""
        self.step = step

    def count(self, layer, op, dense, done):
        entry = self.work[(self.step, layer, op)]
        entry[0] += int(dense)
        entry[1] += int(done)

    def count_dense(self, layer, op, batch):
        macs = dense_macs(self.model.cfg)[op] * batch
        self.count(layer, op, macs, macs)

    def keep(self, layer, kind, mask, nbytes):
        """Record a mask the algorithm stores: ``nbytes`` per sequence."""
        self.mask_bytes[layer] = max(self.mask_bytes[layer], int(nbytes))
        if self.keep_masks:
            self.masks[(self.step, layer, kind)] = mask

    # -- the block --
    def block(self, model, layer, x, c):
        sh1, sc1, g1, sh2, sc2, g2 = model.modulation(layer, c)
        h = modulate(layer_norm(x), sh1, sc1)
        self._capture(layer, "attn", h)
        x = x + g1[:, None] * self.attention(model, layer, h)
        h = modulate(layer_norm(x), sh2, sc2)
        self._capture(layer, "ffn", h)
        return x + g2[:, None] * self.ffn(model, layer, h)

    def _capture(self, layer, kind, h):
        if (self.step, layer) in self.capture:
            self.captured[(self.step, layer, kind)] = h.copy()

    def attention(self, model, layer, h):
        b = h.shape[0]
        q, k, v = self.qkv(model, layer, h)
        self.count_dense(layer, "qkv", b)
        o = self.attend(model, layer, h, q, k, v)
        self.count_dense(layer, "proj", b)
        return model.linear(f"blocks.{layer}.proj", model.merge_heads(o))

    def qkv(self, model, layer, h):
        """``q, k, v`` of the normalised, modulated tokens ``h`` (as :meth:`DiT.qkv`)."""
        return model.qkv(layer, h)

    def attend(self, model, layer, h, q, k, v):
        """Attention core: ``[B, heads, T, dh]`` in, out. ``h`` is the block's input."""
        b = q.shape[0]
        self.count_dense(layer, "qk", b)
        self.count_dense(layer, "pv", b)
        return softmax(model.scores(q, k)) @ v

    def ffn(self, model, layer, h):
        b = h.shape[0]
        self.count_dense(layer, "fc1", b)
        self.count_dense(layer, "fc2", b)
        return model.linear(f"blocks.{layer}.fc2", gelu(model.linear(f"blocks.{layer}.fc1", h)))

    # -- summaries --
    def totals(self, ops=OPS):
        """``(dense, done)`` MACs summed over the run, for the given GEMMs."""
        dense = sum(v[0] for (s, l, op), v in self.work.items() if op in ops)
        done = sum(v[1] for (s, l, op), v in self.work.items() if op in ops)
        return dense, done

    def skipped(self, ops=OPS):
        dense, done = self.totals(ops)
        return 1.0 - done / dense if dense else 0.0

    def per_layer_step(self):
        """Rows ``{step, layer, op, dense, done}`` for the JSON report."""
        return [{"step": s, "layer": l, "op": op, "dense": v[0], "done": v[1]}
                for (s, l, op), v in sorted(self.work.items())]

    def summary(self):
        """Headline numbers of the run (overridden to add each algorithm's own)."""
        dense, done = self.totals()
        return {"macs_dense": dense, "macs_done": done, "macs_skipped": self.skipped(),
                "mask_bytes": int(sum(self.mask_bytes.values()))}

    @staticmethod
    def rng_for(seed, *salt):
        return np.random.default_rng([seed, *salt])
