"""Shape and schedule of the tiny DiT, shared by the NumPy model and the trainer."""

from dataclasses import asdict, dataclass, fields

import numpy as np


@dataclass(frozen=True)
class DiTConfig:
    """A miniature DiT-XL/2: same structure, smaller widths.

    Members
    -------
    image_size, patch, channels : int
        Input images are ``channels x image_size x image_size``; tokens are
        ``patch x patch`` patches, ``(image_size / patch) ** 2`` of them.
    hidden, depth, heads, mlp_ratio : int
        Token width ``d``, number of blocks, attention heads, FFN ratio.
    num_classes : int
        Class labels; label ``num_classes`` is the null class of
        classifier-free guidance.
    freq_dim : int
        Width of the sinusoidal timestep features.
    train_steps : int
        Length of the DDPM schedule (linear betas ``beta_start .. beta_end``).
    """

    image_size: int = 32
    patch: int = 2
    channels: int = 1
    hidden: int = 64
    depth: int = 4
    heads: int = 4
    mlp_ratio: int = 4
    num_classes: int = 10
    freq_dim: int = 256
    train_steps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int) and (not isinstance(value, int) or isinstance(value, bool)
                                           or value < 1):
                raise ValueError(f"{f.name}: expected a positive integer, got {value!r}")
        if self.image_size % self.patch:
            raise ValueError(f"patch: must divide image_size {self.image_size}, got {self.patch!r}")
        if self.hidden % self.heads:
            raise ValueError(f"heads: must divide hidden {self.hidden}, got {self.heads!r}")
        if self.hidden % 4:
            raise ValueError(f"hidden: must be a multiple of 4 (2-D sin-cos positions), "
                             f"got {self.hidden!r}")

    @property
    def grid(self):
        return self.image_size // self.patch

    @property
    def tokens(self):
        return self.grid ** 2

    @property
    def head_dim(self):
        return self.hidden // self.heads

    @property
    def ffn_dim(self):
        return self.hidden * self.mlp_ratio

    @property
    def patch_dim(self):
        return self.channels * self.patch * self.patch

    def as_dict(self):
        return asdict(self)

    def betas(self):
        return np.linspace(self.beta_start, self.beta_end, self.train_steps, dtype=np.float64)

    def alphas_cumprod(self):
        return np.cumprod(1.0 - self.betas())


def _sincos_1d(dim, pos):
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    out = np.outer(pos.reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def pos_embed(cfg):
    """The fixed 2-D sin-cos position table of DiT, ``[tokens, hidden]`` float32."""
    gh, gw = np.meshgrid(np.arange(cfg.grid, dtype=np.float64),
                         np.arange(cfg.grid, dtype=np.float64), indexing="ij")
    # DiT/MAE order: first half encodes the column (w), second half the row (h).
    emb = np.concatenate([_sincos_1d(cfg.hidden // 2, gw), _sincos_1d(cfg.hidden // 2, gh)], axis=1)
    return emb.astype(np.float32)


def timestep_features(t, dim):
    """Sinusoidal timestep features of DiT's ``TimestepEmbedder`` (cos first)."""
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    half = dim // 2
    freqs = np.exp(-np.log(10000.0) * np.arange(half, dtype=np.float64) / half)
    args = t[:, None] * freqs[None]
    return np.concatenate([np.cos(args), np.sin(args)], axis=1).astype(np.float32)


def weight_shapes(cfg):
    """Name and shape of every weight of the model, in the trainer's naming."""
    d, f, pd = cfg.hidden, cfg.ffn_dim, cfg.patch_dim
    shapes = {"x_embedder.weight": (d, pd), "x_embedder.bias": (d,),
              "t_mlp1.weight": (d, cfg.freq_dim), "t_mlp1.bias": (d,),
              "t_mlp2.weight": (d, d), "t_mlp2.bias": (d,),
              "y_embedder.weight": (cfg.num_classes + 1, d)}
    for i in range(cfg.depth):
        for name, (o, n) in {"adaLN": (6 * d, d), "qkv": (3 * d, d), "proj": (d, d),
                             "fc1": (f, d), "fc2": (d, f)}.items():
            shapes[f"blocks.{i}.{name}.weight"] = (o, n)
            shapes[f"blocks.{i}.{name}.bias"] = (o,)
    shapes.update({"final_adaLN.weight": (2 * d, d), "final_adaLN.bias": (2 * d,),
                   "final_linear.weight": (pd, d), "final_linear.bias": (pd,)})
    return shapes
