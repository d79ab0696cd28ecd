"""The tiny DiT's forward pass in NumPy, with every block routed through an executor.

The model is a miniature DiT-XL/2 (Peebles & Xie, 2023): patchify and a linear
patch embedding, fixed 2-D sin-cos positions, timestep and class embeddings
summed into a conditioning vector ``c``, ``depth`` adaLN-Zero blocks of
multi-head self-attention and a tanh-GELU FFN of ratio 4, and an adaLN final
layer that predicts the noise (DiT also learns a variance; this one does not).

:meth:`DiT.forward` never computes a block itself: it calls
``executor.block(model, layer, x, c)``. :class:`exdisc.golden.execution.Dense` is the
plain computation; each algorithm (FFN-Reuse, eager prediction, CTR, ST)
overrides the part of the block it changes and records the work it did.
"""

from pathlib import Path

import numpy as np

from .dit_config import DiTConfig, pos_embed, timestep_features, weight_shapes

#: Where the shipped weights live.
WEIGHTS_DIR = Path(__file__).parent / "weights"
LN_EPS = 1e-6


def silu(x):
    return x / (1.0 + np.exp(-x))


def gelu(x):
    """tanh-approximated GELU, as DiT uses."""
    return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * (x * x * x))))


def layer_norm(x):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + LN_EPS)


def modulate(x, shift, scale):
    return x * (1.0 + scale[:, None]) + shift[:, None]


def softmax(s, axis=-1):
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


class DiT:
    """NumPy forward pass of the tiny DiT.

    Parameters
    ----------
    weights : dict of str to ndarray
        The trainer's state dict (``golden/weights/tiny_dit.npz``).
    cfg : DiTConfig

    Members
    -------
    cfg : DiTConfig
    w : dict of str to float32 ndarray
    """

    def __init__(self, weights, cfg):
        if not isinstance(cfg, DiTConfig):
            raise TypeError(f"cfg: expected a DiTConfig, got {cfg!r}")
        self.cfg = cfg
        expected = weight_shapes(cfg)
        got = {k: tuple(np.shape(v)) for k, v in weights.items()}
        if got != expected:
            diff = sorted(set(got.items()) ^ set(expected.items()))
            raise ValueError(f"weights: do not match the configuration; first difference {diff[0]!r}")
        self.w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
        self.pos = pos_embed(cfg)

    @classmethod
    def load(cls, directory=None):
        """Load the shipped weights (or those in ``directory``)."""
        import json
        directory = Path(directory) if directory is not None else WEIGHTS_DIR
        record = json.loads((directory / "tiny_dit.json").read_text())
        with np.load(directory / "tiny_dit.npz") as f:
            weights = dict(f)
        return cls(weights, DiTConfig(**record["config"]))

    @classmethod
    def random(cls, cfg, seed=0, std=0.05):
        """A model with random weights (for fast tests of the machinery, not of quality)."""
        rng = np.random.default_rng(seed)
        return cls({k: rng.normal(0.0, std, s).astype(np.float32)
                    for k, s in weight_shapes(cfg).items()}, cfg)

    # -- pieces of the network; `rows` arguments may be any subset of tokens --
    def linear(self, name, x):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def weight(self, layer, name):
        """``(W, b)`` of a block's linear layer, ``W`` as ``[in, out]``."""
        return (self.w[f"blocks.{layer}.{name}.weight"].T, self.w[f"blocks.{layer}.{name}.bias"])

    def patchify(self, x):
        cfg = self.cfg
        b = x.shape[0]
        x = x.reshape(b, cfg.channels, cfg.grid, cfg.patch, cfg.grid, cfg.patch)
        return x.transpose(0, 2, 4, 3, 5, 1).reshape(b, cfg.tokens, cfg.patch_dim)

    def unpatchify(self, x):
        cfg = self.cfg
        b = x.shape[0]
        x = x.reshape(b, cfg.grid, cfg.grid, cfg.patch, cfg.patch, cfg.channels)
        return x.transpose(0, 5, 1, 3, 2, 4).reshape(b, cfg.channels, cfg.image_size,
                                                     cfg.image_size)

    def embed(self, x, t, y):
        """Tokens ``[B, T, d]`` and conditioning ``[B, d]`` of images ``x`` at timesteps ``t``."""
        tf = timestep_features(t, self.cfg.freq_dim)
        c = self.linear("t_mlp2", silu(self.linear("t_mlp1", tf))) + self.w["y_embedder.weight"][y]
        return self.linear("x_embedder", self.patchify(x)) + self.pos, c.astype(np.float32)

    def modulation(self, layer, c):
        """The six adaLN vectors ``(shift1, scale1, gate1, shift2, scale2, gate2)``, each ``[B, d]``."""
        return np.split(self.linear(f"blocks.{layer}.adaLN", silu(c)), 6, axis=1)

    def split_heads(self, x):
        """``[B, n, d]`` to ``[B, heads, n, dh]``."""
        b, n, _ = x.shape
        return x.reshape(b, n, self.cfg.heads, self.cfg.head_dim).transpose(0, 2, 1, 3)

    def merge_heads(self, x):
        b, _, n, _ = x.shape
        return x.transpose(0, 2, 1, 3).reshape(b, n, self.cfg.hidden)

    def qkv(self, layer, h):
        """``q, k, v`` as ``[B, heads, n, dh]`` for normalised, modulated tokens ``h [B, n, d]``."""
        q, k, v = np.split(self.linear(f"blocks.{layer}.qkv", h), 3, axis=-1)
        return self.split_heads(q), self.split_heads(k), self.split_heads(v)

    def scores(self, q, k):
        # a contiguous K^T makes this BLAS-friendly (4x faster than a strided view)
        q = q * np.float32(1.0 / np.sqrt(self.cfg.head_dim))
        return q @ np.ascontiguousarray(k.swapaxes(-1, -2))

    def head(self, x, c):
        shift, scale = np.split(self.linear("final_adaLN", silu(c)), 2, axis=1)
        return self.unpatchify(self.linear("final_linear", modulate(layer_norm(x), shift, scale)))

    def forward(self, x, t, y, executor, record=None):
        """Predicted noise for images ``x [B, C, H, W]``, timesteps ``t [B]``, labels ``y [B]``.

        ``record``, if a list, receives the block inputs and the last block's
        output (the fixture's format).
        """
        x, c = self.embed(np.asarray(x, np.float32), np.asarray(t), np.asarray(y))
        for layer in range(self.cfg.depth):
            if record is not None:
                record.append(x)
            x = executor.block(self, layer, x, c).astype(np.float32)
        if record is not None:
            record.append(x)
        return self.head(x, c)
