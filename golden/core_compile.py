"""A DiT block, quantized, as a descriptor program of the core.

:func:`compile_block` lowers one block of :mod:`.dit` for a batch of samples
to a program of :mod:`.core_isa` descriptors and each sample's external
memory image; :func:`.core.run` executes it and :func:`block_output` reads
the block's output back as floats.

Quantization (one scale per tensor, shared by the batch, so that one program
serves every sample):

* weights: symmetric int8 per matrix (:func:`.quant.quantize`); biases
  int32 at the unit of their GEMM's accumulators;
* activations feeding a GEMM (``h``, ``q``, ``k``, ``v``, ``P``, ``o``, the
  GELU output): int8 at the scales :func:`calibrate` measured on a float run
  of the block, requantized by the non-linear unit;
* the residual stream: int32 at ``s_x``, chosen so that the block's input,
  middle and output fit 31 bits and each gated add's per-column multiplier
  fits :data:`.core.GATE_BITS`;
* adaLN: the modulation vectors of each sample (the conditioning path,
  ``adaLN(silu(c))``, runs on the host: one vector per sample, not per token)
  become LayerNorm gains and biases and the gates' per-column multipliers,
  loaded from external memory.

:func:`calibrate` takes the scales from a float run on the batch it is given:
the batch to be run (as here, the best case) or a separate calibration batch.
"""

from dataclasses import dataclass

import numpy as np

from . import nonlinear as nl
from .core import GATE_BITS, CoreConfig, Error, accepted, deadlock, with_tokens
from .core_isa import Buffer, Fn, Init, Op, encode
from .dit import gelu, layer_norm, modulate, softmax
from .eager import EagerPrediction
from .quant import QMAX, quantize, smoothing, tensor_scale as _scale, to_int32 as _int32

__all__ = ["calibrate", "compile_block", "block_output", "reuse_outputs", "fc1_accumulators",
           "token_cache", "keep_masks", "eager_masks", "Compiled", "ReuseStep", "TokenStep",
           "MaskStep", "GATHER_BELOW"]

#: The residual stream's full scale: block values up to this many units.
RESIDUAL_TOP = 1 << 30


def _amax(x):
    return float(np.max(np.abs(x))) if np.size(x) else 0.0


def float_block(model, layer, x, c, keep=None):
    """The float block (as :class:`.execution.Dense`), with its intermediates;
    with ``keep`` (``[B, H, T, T]`` bool), each query attends only to the
    keys it keeps (ST's reuse step, as :class:`.softmax_threshold.SoftmaxThreshold`)."""
    t = {"x": x}
    sh1, sc1, g1, sh2, sc2, g2 = model.modulation(layer, c)
    t["h1"] = modulate(layer_norm(x), sh1, sc1)
    q, k, v = model.qkv(layer, t["h1"])
    t.update(q=q, k=k, v=v)
    s = model.scores(q, k)
    t["o"] = model.merge_heads(softmax(s if keep is None else np.where(keep, s, -np.inf)) @ v)
    t["attn"] = model.linear(f"blocks.{layer}.proj", t["o"])
    t["x_mid"] = x + g1[:, None] * t["attn"]
    t["h2"] = modulate(layer_norm(t["x_mid"]), sh2, sc2)
    t["pre"] = model.linear(f"blocks.{layer}.fc1", t["h2"])
    t["g"] = gelu(t["pre"])
    t["ffn"] = model.linear(f"blocks.{layer}.fc2", t["g"])
    t["x_out"] = t["x_mid"] + g2[:, None] * t["ffn"]
    return t


def eager_masks(model, layer, x, c, predictor=None):
    """Eager prediction's keep masks ``[B, H, T, T]`` for block ``layer`` on
    ``x``, ``c``: :meth:`.eager.EagerPrediction.predict` (default settings, or
    ``predictor``'s) on the attention's input, as the float block has it.
    The masks :class:`MaskStep` takes on ExionCore; the predictor's own RTL
    (:mod:`exdisc.hw.eager_predictor`) computes the same masks, but is not
    yet in the core, so the host computes them here."""
    predictor = predictor or EagerPrediction()
    sh1, sc1, *_ = model.modulation(layer, c)
    return predictor.predict(model, layer, modulate(layer_norm(x), sh1, sc1))[0]


def calibrate(model, layer, x, c):
    """The scales of the block's activations, from a float run on ``x [B, T,
    d]``, ``c [B, d]``: per tensor, but for the LayerNorm outputs per channel
    (``smooth1``, ``smooth2``: SmoothQuant factors moved into the LayerNorm
    gains and the next weights' rows), and each gate's largest magnitude."""
    t = float_block(model, layer, np.asarray(x, np.float32), np.asarray(c, np.float32))
    mod = model.modulation(layer, c)
    out = {name: _scale(t[name]) for name in ("q", "k", "v", "o", "g")}
    for n, (h, wname) in enumerate((("h1", "qkv"), ("h2", "fc1")), 1):
        smooth = smoothing(t[h], model.weight(layer, wname)[0])
        out[f"smooth{n}"] = smooth
        out[h] = _scale(t[h] / smooth)
    out["x"] = max(_amax(t[n]) for n in ("x", "x_mid", "x_out")) / RESIDUAL_TOP or 1.0
    out["gate1"], out["gate2"] = _amax(mod[2]), _amax(mod[5])
    return out


class _Allocator:
    """Regions of a buffer in bands of rows: a region goes beside others of
    the same height while the row has columns left."""

    def __init__(self, rows, width, name):
        self.rows, self.width, self.name = rows, width, name
        self.bands = []          # [row, height, used columns]
        self.top = 0

    def row(self):
        """A whole row of its own: ``row`` (for a vector that must sit at given
        columns)."""
        return self(1, self.width)[0]

    def __call__(self, rows, cols):
        if cols > self.width:
            raise ValueError(f"{self.name}: a region of {cols} columns is wider than the "
                             f"buffer's {self.width}")
        for band in self.bands:
            if band[1] == rows and band[2] + cols <= self.width:
                at = (band[0], band[2])
                band[2] += cols
                return at
        if self.top + rows > self.rows:
            raise ValueError(f"{self.name}: {self.top + rows} rows needed, the buffer has "
                             f"{self.rows}")
        self.bands.append([self.top, rows, cols])
        self.top += rows
        return (self.bands[-1][0], 0)


class _Image:
    """Each sample's external memory, filled region by region."""

    def __init__(self, samples, nbytes):
        self.mem = np.zeros((samples, nbytes), np.uint8)
        self.top = 0

    def put(self, values, dtype):
        """``values [B or 1, rows, cols]`` at the next free bytes; ``(addr, stride)``."""
        raw = np.ascontiguousarray(np.asarray(values).astype(dtype)).view(np.uint8)
        b, rows, stride = raw.shape
        if self.top + rows * stride > self.mem.shape[1]:
            raise ValueError(f"dram_bytes: the block needs more than {self.mem.shape[1]} bytes")
        at = self.top
        self.mem[:, at:at + rows * stride] = raw.reshape(b, rows * stride)
        self.top += rows * stride
        return at, stride

    def reserve(self, rows, stride):
        at = self.top
        if at + rows * stride > self.mem.shape[1]:
            raise ValueError(f"dram_bytes: the block needs more than {self.mem.shape[1]} bytes")
        self.top += rows * stride
        return at, stride


@dataclass
class Compiled:
    """A block's program, its external memory image, where the output is and
    what it is worth, and the scales used; for a dense FFN-Reuse step, where
    the mask and the cached partial are (``reuse``: ``{"mask": (address,
    rows, bytes a row), "partial": (address, rows, cols)}``) and where FC1's
    accumulators stay in ``ACC`` (``"fc1": (row, col, rows, cols)``); for a
    CTR step (:class:`TokenStep`), where the token cache's keys and values
    are (``cache``: ``{"k": (address, rows, cols), "v": ...}``, int8 rows;
    the block outputs are ``out``); for ST's mask generation step
    (:class:`MaskStep`), where each head's keep masks are (``masks``:
    ``(address, heads, rows, bytes a row)``)."""
    program: list
    dram: np.ndarray
    out: tuple            # (dram byte address, rows, cols): int32 rows
    out_scale: float
    scales: dict
    cfg: CoreConfig
    reuse: dict = None
    cache: dict = None
    masks: tuple = None
    used: dict = None     # rows of each buffer and bytes of external memory the program takes


@dataclass(frozen=True)
class ReuseStep:
    """FFN-Reuse on the block's FFN, for ExionCore (``CoreConfig.exion``).

    ``dense``: the FFN runs whole, ``MASKGEN`` marks FC1's accumulators
    (bias included) above ``threshold`` as the elements to recompute, and
    the program stores that mask and the cached partial ``b2 + (H * ~M) @
    W2`` (:func:`reuse_outputs` reads them back). ``sparse``: FC1 runs only
    under ``mask`` (``GEMM_OS``) and FC2 as ``partial + (Hn * M) @ W2``
    (``GEMM_IS``): exactly FC2 of the dense step's GELU output with the
    masked elements recomputed, when both steps use the same scales (pass
    the dense step's ``scales``).

    Members
    -------
    kind : str
        ``"dense"`` or ``"sparse"``.
    threshold : int
        Dense: FC1's integer threshold (``golden.mask_gen.fc1_integer_threshold``
        of ``tau``, with the bias in the accumulator: ``bias = 0``).
    mask : numpy.ndarray
        Sparse: ``[B, T, F]`` bool, the dense step's mask.
    partial : numpy.ndarray
        Sparse: ``[B, T, d]`` int32, the dense step's cached partial.
    condensed : bool
        Sparse: FC1, GELU and FC2 in the order of each row tile's kept
        columns (``condensed`` sparse GEMMs, row tiles of
        ``CoreConfig.array_rows``), so that FC1 runs only the columns its
        mask keeps; the block's output is the same either way.
    """
    kind: str
    threshold: int = None
    mask: np.ndarray = None
    partial: np.ndarray = None
    condensed: bool = True

    def __post_init__(self):
        if self.kind not in ("dense", "sparse"):
            raise ValueError(f"kind: expected 'dense' or 'sparse', got {self.kind!r}")
        if self.kind == "dense" and (not isinstance(self.threshold, (int, np.integer))
                                     or not -(1 << 31) <= self.threshold < 1 << 31):
            raise ValueError(f"threshold: expected a signed 32-bit integer, got "
                             f"{self.threshold!r}")
        if self.kind == "sparse" and (self.mask is None or self.partial is None):
            raise ValueError("mask, partial: a sparse step needs the dense step's")
        if not isinstance(self.condensed, bool):
            raise TypeError(f"condensed: expected a bool, got {self.condensed!r}")


@dataclass(frozen=True)
class TokenStep:
    """CTR on the block, for DiscCore (``CoreConfig.disc``): the block's
    token cache (each token's block output, key and value) in external
    memory, its rows read and written by token index (``GATHER``,
    ``SCATTER``).

    A *full* step (``fresh`` None) computes every token and also stores
    every token's key and value to the cache (:func:`token_cache` reads it
    back). A *reuse* step computes only the ``fresh`` tokens: their input
    rows are gathered, their keys and values scattered into the cache, the
    whole cache's keys and values loaded for their queries to attend over,
    and their outputs scattered into the cache of outputs, where the other
    tokens keep theirs. Give a reuse step the scales of the step that
    filled the cache (its ``Compiled.scales``), whose units the cache holds.

    Members
    -------
    fresh : numpy.ndarray or None
        ``[B, T]`` bool, the same count in every sample.
    k, v : numpy.ndarray
        Reuse: ``[B, T, d]`` int8, the cache's keys and values.
    out : numpy.ndarray
        Reuse: ``[B, T, d]`` int32, the cache's block outputs.
    """
    fresh: np.ndarray = None
    k: np.ndarray = None
    v: np.ndarray = None
    out: np.ndarray = None

    def __post_init__(self):
        if self.fresh is None:
            return
        fresh = np.asarray(self.fresh)
        if fresh.dtype != bool or fresh.ndim != 2:
            raise ValueError(f"fresh: expected a [B, T] bool array, got {fresh.dtype} "
                             f"{fresh.shape}")
        counts = fresh.sum(axis=1)
        if counts.min() != counts.max() or counts.min() == 0:
            raise ValueError(f"fresh: expected the same number of fresh tokens, at least one, "
                             f"in every sample, got {counts.tolist()}")
        if any(v is None for v in (self.k, self.v, self.out)):
            raise ValueError("k, v, out: a reuse step needs the token cache")

    @property
    def reuse(self):
        return self.fresh is not None


#: :class:`MaskStep`'s default: the share of keys below which a head's row
#: tiles gather theirs (``exdisc bench disc`` measures both sides of it).
GATHER_BELOW = 0.75


@dataclass(frozen=True)
class MaskStep:
    """Attention under keep masks: ST's on DiscCore, eager prediction's on
    ExionCore (``CoreConfig.exion``: the output-sparse GEMM masks the scores;
    gathers need ``CoreConfig.disc``).

    A *generate* step (``keep`` None) is the dense block, and it also stores
    each head's keep masks, as the softmax makes them (probabilities above
    ``theta`` and each row's maximum), to external memory
    (:func:`keep_masks` reads them back). A *reuse* step attends each
    query only to the keys ``keep`` names: every token's key and value is
    scattered into the K/V store on chip (``on_chip``; else stored to a
    table in external memory); then per head and row tile of
    ``CoreConfig.array_rows`` queries, the keys some query of the tile keeps
    (in any sample: the program is the batch's) are gathered back as a
    dense tile, with their values (``KV_GATHER`` through the hash bank
    router; else ``GATHER``); the scores start at the least int32
    and an output-sparse GEMM writes only the kept ones, so that the
    softmax gives the others nothing; ``P V`` runs over the gathered
    values. A head whose row tiles keep, on
    average, at least ``gather_below`` of the keys runs whole instead, over
    every key under its masks, without gathers (what a tile would skip does
    not pay for its gathers and its descriptors); on a core without
    gathers (ExionCore) every head runs whole. The host turns the masks
    into each tile's list of keys and its mask over them (as it knows them,
    from the generate step's, or from eager prediction's).

    Members
    -------
    keep : numpy.ndarray or None
        Reuse: ``[B, H, T, T]`` bool, the generate step's masks.
    gather_below : float
        Reuse: the share of keys a head's row tiles keep below which they
        are gathered (0 never gathers, above 1 always).
    on_chip : bool
        Reuse: gather from the K/V store (``CoreConfig.kv_bytes`` must hold
        every token's key and value), else from external memory.
    """
    keep: np.ndarray = None
    gather_below: float = GATHER_BELOW
    on_chip: bool = True

    def __post_init__(self):
        if not isinstance(self.gather_below, (int, float)) or isinstance(self.gather_below, bool) \
                or self.gather_below < 0:
            raise ValueError(f"gather_below: expected a number of at least 0, got "
                             f"{self.gather_below!r}")
        if not isinstance(self.on_chip, bool):
            raise TypeError(f"on_chip: expected a bool, got {self.on_chip!r}")

    @property
    def reuse(self):
        return self.keep is not None


def _fixed(scale, fmt):
    return nl.fixed_multiplier(float(scale), fmt)


def _gates(g, ratio):
    """Per-column gate multipliers (``[B, d]``) for ``g * ratio`` (``ratio``
    per column) and their shift."""
    top = _amax(np.asarray(g, np.float64) * ratio)
    hi = (1 << (GATE_BITS - 1)) - 1
    shift = int(np.floor(np.log2(hi / top))) if top > 0 else 0
    if shift < 0:
        raise ValueError(f"a gate multiplier of {top:.3g} does not fit {GATE_BITS} bits; "
                         "the residual scale is too fine")
    shift = min(shift, 63)
    return _int32(np.asarray(g, np.float64) * ratio * 2.0 ** shift), shift


class _Program:
    def __init__(self):
        self.words = []

    def __call__(self, op, **f):
        self.words.append(encode(op, **f))


def compile_block(model, layer, x, c, cfg=None, scales=None, theta=1e-3, chunk_rows=64,
                  reuse=None, tokens=None, masks=None):
    """The program of block ``layer`` for the batch ``x [B, T, d]``, ``c [B, d]``.

    ``scales``: from :func:`calibrate` (default: calibrated on this batch).
    ``reuse``: a :class:`ReuseStep` (ExionCore) for the FFN. ``tokens``: a
    :class:`TokenStep` (DiscCore), CTR's token cache. ``masks``: a
    :class:`MaskStep`, ST's or eager prediction's keep masks (with
    ``reuse``: EXION's two mechanisms in one block). Raises
    ``ValueError`` when the block does not fit ``cfg``'s buffers."""
    cfg = cfg or CoreConfig()
    if not isinstance(cfg, CoreConfig):
        raise TypeError(f"cfg: expected a CoreConfig, got {cfg!r}")
    x = np.asarray(x, np.float32)
    c = np.asarray(c, np.float32)
    mc = model.cfg
    if x.ndim != 3 or not 1 <= x.shape[1] <= mc.tokens or x.shape[2] != mc.hidden or \
            c.shape != (x.shape[0], mc.hidden):
        raise ValueError(f"x, c: expected [B, T <= {mc.tokens}, {mc.hidden}] and [B, {mc.hidden}], "
                         f"got {x.shape} and {c.shape}")
    s = scales or calibrate(model, layer, x, c)
    fmt = cfg.fmt
    T, d, H, dh, f_dim = x.shape[1], mc.hidden, mc.heads, mc.head_dim, mc.hidden * mc.mlp_ratio
    B = x.shape[0]
    if reuse is not None:
        if not isinstance(reuse, ReuseStep):
            raise TypeError(f"reuse: expected a ReuseStep, got {reuse!r}")
        if not cfg.exion:
            raise ValueError("reuse: FFN-Reuse runs on ExionCore; cfg.exion is False")
        if reuse.kind == "sparse" and (np.shape(reuse.mask) != (B, T, f_dim) or
                                       np.shape(reuse.partial) != (B, T, d)):
            raise ValueError(f"mask, partial: expected [{B}, {T}, {f_dim}] and [{B}, {T}, {d}], "
                             f"got {np.shape(reuse.mask)} and {np.shape(reuse.partial)}")
    if tokens is not None:
        if not isinstance(tokens, TokenStep):
            raise TypeError(f"tokens: expected a TokenStep, got {tokens!r}")
        if not cfg.disc:
            raise ValueError("tokens: CTR's token cache is DiscCore's; cfg.disc is False")
        if reuse is not None:
            raise ValueError("reuse, tokens: FFN-Reuse and CTR are different cores' steps")
        if tokens.reuse and (np.shape(tokens.fresh) != (B, T) or
                             any(np.shape(v) != (B, T, d) for v in (tokens.k, tokens.v,
                                                                     tokens.out))):
            raise ValueError(f"fresh, k, v, out: expected [{B}, {T}] and [{B}, {T}, {d}], got "
                             f"{np.shape(tokens.fresh)}, {np.shape(tokens.k)}, "
                             f"{np.shape(tokens.v)}, {np.shape(tokens.out)}")
    if masks is not None:
        if not isinstance(masks, MaskStep):
            raise TypeError(f"masks: expected a MaskStep, got {masks!r}")
        if not cfg.exion:
            raise ValueError("masks: masked attention runs on the sparse GEMMs of ExionCore "
                             "or DiscCore; cfg.exion is False")
        if tokens is not None:
            raise ValueError("masks: attention under keep masks does not take CTR's tokens")
        if masks.reuse and np.shape(masks.keep) != (B, H, T, T):
            raise ValueError(f"keep: expected [{B}, {H}, {T}, {T}], got {np.shape(masks.keep)}")
    st = masks is not None and masks.reuse
    ctr = tokens is not None and tokens.reuse
    # the rows the block computes: every token, or a CTR step's fresh ones
    R = int(np.asarray(tokens.fresh).sum(axis=1)[0]) if ctr else T
    sh1, sc1, g1, sh2, sc2, g2 = model.modulation(layer, c)

    # weights: the LayerNorms' smoothing factors multiply the rows of the GEMMs
    # after them, which requantize per tensor; the projection and FC2, whose
    # results only meet the gates' per-column multipliers, take one scale
    # per output column at no cost
    w = {}
    for name, smooth in (("qkv", s["smooth1"]), ("proj", None), ("fc1", s["smooth2"]),
                         ("fc2", None)):
        W, b = model.weight(layer, name)
        if smooth is not None:
            q, scale = quantize(W * smooth[:, None])
            scale = float(scale.item())
        else:
            q, scale = quantize(W, axis=0)
            scale = scale[0]
        w[name] = (q, scale, b)
    unit = {"qkv": s["h1"] * w["qkv"][1], "proj": s["o"] * w["proj"][1],
            "fc1": s["h2"] * w["fc1"][1], "fc2": s["g"] * w["fc2"][1]}
    # the residual scale: fine enough for 31 bits of the block's values, coarse
    # enough for each gate's multiplier to fit
    s_x = max(s["x"], s["gate1"] * _amax(unit["proj"]) * 2 / (1 << (GATE_BITS - 1)),
              s["gate2"] * _amax(unit["fc2"]) * 2 / (1 << (GATE_BITS - 1)))

    act = _Allocator(cfg.act_rows, cfg.width, "act_rows")
    wgt = _Allocator(cfg.wgt_rows, cfg.width, "wgt_rows")
    acc = _Allocator(cfg.acc_rows, cfg.width, "acc_rows")
    img = _Image(B, cfg.dram_bytes)
    prog = _Program()

    def load(buffer, at, values, dtype, bits=None):
        """``values`` into ``buffer`` at ``at`` (``bits``: a mask's columns,
        its bytes packed eight to a byte)."""
        addr, stride = img.put(values, dtype)
        prog(Op.LOAD, buffer=buffer, row=at[0], col=at[1], rows=values.shape[-2],
             cols=bits or values.shape[-1], dram=addr, stride=stride)

    # -- regions --
    # the scores and the probabilities of two heads at a time, so that the
    # engine computes one head's scores while the non-linear unit takes the
    # softmax of the head before; FC1's accumulators and GELU's output reuse
    # the first of each pair
    X = acc(R, d)
    QKV_ACC = acc(R, 3 * d)
    S = [acc(R, T), acc(R, T)]
    FC1_ACC = S[0] if f_dim == T else acc(R, f_dim)
    O_ACC, PROJ_ACC, FC2_ACC = acc(R, d), acc(R, d), acc(R, d)
    # a bias starts a GEMM's accumulators from its row at the GEMM's columns
    bias_at = {name: (acc.row(), c[1]) for name, c in
               (("bqkv", QKV_ACC), ("bproj", PROJ_ACC), ("b1", FC1_ACC), ("b2", FC2_ACC))}
    params = {name: acc(1, d) for name in ("gain1", "bias1", "gain2", "bias2", "gate1",
                                           "gate2")}
    params.update(bias_at)
    H1, Q, O, H2 = act(R, d), act(R, d), act(R, d), act(R, d)
    P = [act(R, T), act(R, T)]
    G = P[0] if f_dim == T else act(R, f_dim)
    WQKV, WPROJ = wgt(d, 3 * d), wgt(d, d)
    # FC2's weights transposed (d rows of F), so that they take as few rows as FC1's
    W1, W2T = wgt(d, f_dim), wgt(d, f_dim)
    K, V = wgt(T, d), wgt(T, d)
    # a CTR step's fresh keys and values, on their way to the cache
    KF, VF = (wgt(R, d), wgt(R, d)) if ctr else (K, V)
    mask_rows = 3 * R if reuse is not None else 2 * R
    if st:
        # per head and row tile of queries, the keys some query keeps (in any
        # sample); a head whose tiles keep most keys runs whole, ungathered
        Rt = cfg.array_rows
        keep = np.asarray(masks.keep, bool)
        units = []
        for h in range(H):
            tiles = [range(u, min(u + Rt, T)) for u in range(0, T, Rt)]
            unions = [np.flatnonzero(keep[:, h, t.start:t.stop].any(axis=(0, 1)))
                      for t in tiles]
            if not cfg.disc or np.mean([u.size for u in unions]) >= masks.gather_below * T:
                units.append((h, range(T), None))
            else:
                units += [(h, t, u) for t, u in zip(tiles, unions)]
        # two units' keep masks over their keys, then the softmax's own over
        # them, and their row scales
        span = max(len(tile) for _, tile, _ in units)
        mask_rows = max(mask_rows, 2 * span)
        MU = [(0, 0), (span, 0)]
        KU = [wgt(T, dh), wgt(T, dh)]
        VU = [wgt(T, dh), wgt(T, dh)]
    # the K/V store takes every key and value when some tile gathers from it,
    # a token's row a power of two (the router shifts)
    kv_row = 1 << (d - 1).bit_length()
    kv_on = st and masks.on_chip and any(union is not None for _, _, union in units)
    if kv_on and 2 * T * kv_row > cfg.kv_bytes:
        raise ValueError(f"kv_bytes: {cfg.kv_bytes} holds less than every token's key and "
                         f"value ({2 * T * kv_row} bytes); MaskStep(on_chip=False) gathers "
                         f"from external memory")
    if mask_rows > cfg.mask_rows:
        raise ValueError(f"mask_rows: {mask_rows} rows needed (two heads' keep masks and row "
                         f"scales{', the FFN-Reuse mask' if reuse else ''}), the buffer has "
                         f"{cfg.mask_rows}")
    FFN_MASK = (2 * R, 0)

    # -- loads, in the order of first use: the residual stream in row chunks,
    # so that the first LayerNorm starts on the first --
    off = lambda at, cols: (at[0], at[1] + cols)
    down = lambda at, rows: (at[0] + rows, at[1])
    # adaLN's (1 + scale) and shift divided by the smoothing factors
    gain1, bias1, ms1 = nl.adaln_params((1 + sc1) / s["smooth1"] - 1, sh1 / s["smooth1"],
                                        s["h1"], fmt)
    gain2, bias2, ms2 = nl.adaln_params((1 + sc2) / s["smooth2"] - 1, sh2 / s["smooth2"],
                                        s["h2"], fmt)
    gate1, gs1 = _gates(g1, unit["proj"] / s_x)
    gate2, gs2 = _gates(g2, unit["fc2"] / s_x)
    row = lambda v: np.asarray(v)[:, None, :] if np.ndim(v) == 2 else np.asarray(v)[None, None]
    bias = lambda name: row(_int32(w[name][2] / unit[name]))
    chunks = [range(r, min(r + chunk_rows, R)) for r in range(0, R, chunk_rows)]
    x_int = _int32(x / s_x)
    if ctr:
        # each chunk's token indices, a row of ACC each (a list starts at column 0)
        index = np.stack([np.flatnonzero(f) for f in np.asarray(tokens.fresh)])
        lists = [acc.row() for _ in chunks]
        x_table = img.put(x_int, "<i4")
    # ST's reuse step on chip: each chunk's token indices, for its scatters
    kv_lists = [acc.row() for _ in chunks] if kv_on else []

    def indexed(op, buffer, at, rows, cols, table, list_row):
        """A gather or scatter of the tokens the list in ``ACC[list_row]`` names."""
        prog(op, buffer=buffer, row=at[0], col=at[1], rows=rows, cols=cols, dram=table[0],
             stride=table[1], idx_row=list_row, limit=T)

    def load_x(n):
        """The residual stream's chunk ``n``: loaded, or a CTR step's fresh
        rows gathered from the block input's table by token."""
        rows = chunks[n]
        if not ctr:
            load(Buffer.ACC, down(X, rows.start), x_int[:, rows], "<i4")
            return
        load(Buffer.ACC, (lists[n], 0), index[:, None, rows], "<i4")
        indexed(Op.GATHER, Buffer.ACC, down(X, rows.start), len(rows), d, x_table, lists[n])

    def broadcast(buffer_at, values, rows):
        """``values`` ``[B, 1, n]`` int32 into ``rows`` rows at ``buffer_at`` (a
        stride-0 load of one row of external memory)."""
        addr, _ = img.put(values, "<i4")
        prog(Op.LOAD, buffer=Buffer.ACC, row=buffer_at[0] + rows.start, col=buffer_at[1],
             rows=len(rows), cols=values.shape[-1], dram=addr, stride=0)

    sparse = reuse is not None and reuse.kind == "sparse"
    condensed = sparse and reuse.condensed

    def condensed_bias(values, rows):
        """FC1's bias ``[B, 1, F]`` into each row tile of ``rows`` in the
        order of the columns the tile's mask keeps (a condensed GEMM_OS
        accumulates onto it)."""
        mask = np.asarray(reuse.mask, bool)
        values = np.broadcast_to(values, (B, 1, values.shape[-1]))
        for u in range(rows.start, rows.stop, cfg.array_rows):
            tile = range(u, min(u + cfg.array_rows, rows.stop))
            out = np.zeros_like(values)
            for b_ in range(B):
                cols = np.flatnonzero(mask[b_, tile.start:tile.stop].any(axis=0))
                out[b_, 0, :cols.size] = values[b_, 0, cols]
            broadcast(FC1_ACC, out, tile)

    def condensed_length(rows):
        """Columns of a condensed FC1's output that FC2 reads: the most that a
        row tile of ``rows`` keeps (of any image), at least one."""
        mask = np.asarray(reuse.mask, bool)[:, rows]
        R_ = cfg.array_rows
        return max([1] + [int(mask[:, u:u + R_].any(axis=1).sum(axis=-1).max())
                          for u in range(0, len(rows), R_)])

    def fc1_loads(rows):
        """A sparse step's FC1 of ``rows``: the mask's rows, and the bias
        the GEMM accumulates onto (the outputs the mask names)."""
        load(Buffer.MASK, down(FFN_MASK, rows.start),
             np.packbits(np.asarray(reuse.mask, bool)[:, rows], axis=-1,
                         bitorder="little"), np.uint8, bits=f_dim)
        if condensed:
            condensed_bias(bias("fc1"), rows)
        else:
            broadcast(FC1_ACC, bias("fc1"), rows)

    groups = [
        [(Buffer.ACC, params["gain1"], row(gain1), "<i4"),
         (Buffer.ACC, params["bias1"], row(bias1), "<i4"),
         0,
         (Buffer.WGT, WQKV, w["qkv"][0][None], np.int8),
         (Buffer.ACC, params["bqkv"], bias("qkv"), "<i4")] + list(range(1, len(chunks))),
        [(Buffer.WGT, WPROJ, w["proj"][0][None], np.int8),
         (Buffer.ACC, params["bproj"], bias("proj"), "<i4"),
         (Buffer.ACC, params["gate1"], row(gate1), "<i4")],
        [(Buffer.ACC, params["gain2"], row(gain2), "<i4"),
         (Buffer.ACC, params["bias2"], row(bias2), "<i4"),
         (Buffer.WGT, W1, w["fc1"][0][None], np.int8),
         (Buffer.ACC, params["b1"], bias("fc1"), "<i4")],
        [(Buffer.WGT, W2T, w["fc2"][0].T[None], np.int8),
         (Buffer.ACC, params["b2"], bias("fc2"), "<i4"),
         (Buffer.ACC, params["gate2"], row(gate2), "<i4")],
    ]

    def emit(group):
        for entry in group:
            # the residual stream's chunks by number
            if isinstance(entry, int):
                load_x(entry)
            else:
                load(*entry)

    # a sparse step loads FC2's weights after FC1's masks and biases (FC1
    # does not need them), and both after what attention loads
    for group in groups[:-1] if sparse else groups:
        emit(group)
    if ctr:
        # the cache: every token's key, value and output; the fresh ones' replaced
        kv_tables = [img.put(v, np.int8) for v in (tokens.k, tokens.v)]
        out_addr, out_stride = img.put(tokens.out, "<i4")
    else:
        out_addr, out_stride = img.reserve(T, 4 * d)
        # CTR's cache, or the table ST's reuse step gathers kept keys and values from
        kv_tables = [img.reserve(T, d) for _ in range(2)] \
            if tokens is not None or (st and not masks.on_chip) else []
    if masks is not None and not st:
        mask_table = img.reserve(H * T, T // 8)
    if reuse is not None and reuse.kind == "dense":
        mask_addr, mask_stride = img.reserve(T, f_dim // 8)
        part_addr, part_stride = img.reserve(T, 4 * d)

    def nonlinear(fn, src, dst_buffer, dst, rows, length, **kw):
        prog(Op.NONLINEAR, fn=fn, src_row=src[0], src_col=src[1], dst_buffer=dst_buffer,
             dst_row=dst[0], dst_col=dst[1], rows=rows, length=length, **kw)

    def layernorm(gain, bias_name, mod_shift, dst, rows):
        """LayerNorm of residual rows ``rows`` (a slice) into ``dst``."""
        top = int(round(_amax_int_residual(s["x"], s_x)))
        pre = max(0, top.bit_length() - (fmt.ln_bits - 1))
        nonlinear(Fn.LOAD_GAIN, params[gain], Buffer.ACT, (0, 0), 1, d)
        nonlinear(Fn.LOAD_BIAS, params[bias_name], Buffer.ACT, (0, 0), 1, d)
        prog(Op.SET, pre=pre, shift2=mod_shift)
        nonlinear(Fn.LAYERNORM, down(X, rows.start), Buffer.ACT, down(dst, rows.start),
                  len(rows), d)

    def gemm(a, b, c_at, m, n, k, b_t=0, bias_name=None):
        prog(Op.GEMM, a_row=a[0], a_col=a[1], b_row=b[0], b_col=b[1], b_t=b_t,
             c_row=c_at[0], c_col=c_at[1], m=m, n=n, k=k,
             init=Init.BIAS if bias_name else Init.ZERO,
             bias_row=params[bias_name][0] if bias_name else 0)

    def requant(src, dst_buffer, dst, rows, length, scale, **kw):
        mult, shift = _fixed(scale, fmt)
        prog(Op.SET, mult=mult, shift=shift)
        nonlinear(Fn.REQUANT, src, dst_buffer, dst, rows, length, **kw)

    def add(src, gate, shift, rows):
        prog(Op.ADD, dst_row=X[0] + rows.start, dst_col=X[1], src_row=src[0] + rows.start,
             src_col=src[1], gate_row=params[gate][0], gate_col=params[gate][1],
             rows=len(rows), length=d, shift=shift)

    # -- attention: each head's scores and probabilities in one of two buffers,
    # scores two heads ahead of P V, so that the softmax of one head runs
    # beside the engine's work on the next (the tokens follow from the
    # descriptors' footprints: core.with_tokens) --
    for rows in chunks:
        layernorm("gain1", "bias1", ms1, H1, rows)
    for c_n, rows in enumerate(chunks):
        n, at = len(rows), rows.start
        gemm(down(H1, at), WQKV, down(QKV_ACC, at), n, 3 * d, d, bias_name="bqkv")
        requant(down(QKV_ACC, at), Buffer.ACT, down(Q, at), n, d, unit["qkv"] / s["q"])
        requant(down(off(QKV_ACC, d), at), Buffer.WGT, down(KF, at), n, d, unit["qkv"] / s["k"])
        requant(down(off(QKV_ACC, 2 * d), at), Buffer.WGT, down(VF, at), n, d,
                unit["qkv"] / s["v"])
        if kv_on:
            # into the K/V store, a token's key at kv_row * t, its value T * kv_row beyond
            load(Buffer.ACC, (kv_lists[c_n], 0), np.broadcast_to(np.asarray(rows), (B, 1, n)),
                 "<i4")
            for region, base in ((KF, 0), (VF, T * kv_row)):
                prog(Op.KV_SCATTER, buffer=Buffer.WGT, row=region[0] + at, col=region[1],
                     rows=n, cols=d, base=base, stride=kv_row, idx_row=kv_lists[c_n],
                     limit=T)
        for region, table in zip((KF, VF), kv_tables):
            # into the token cache: a full step's every row, a reuse step's fresh ones
            if ctr:
                indexed(Op.SCATTER, Buffer.WGT, down(region, at), n, d, table, lists[c_n])
            else:
                prog(Op.STORE, buffer=Buffer.WGT, row=region[0] + at, col=region[1], rows=n,
                     cols=d, dram=table[0] + at * table[1], stride=table[1])
    if ctr:
        # every token's key and value, the fresh ones' just written
        for region, (addr, stride) in zip((K, V), kv_tables):
            prog(Op.LOAD, buffer=Buffer.WGT, row=region[0], col=region[1], rows=T, cols=d,
                 dram=addr, stride=stride)
    sm_mult, sm_shift = nl.softmax_params(s["q"] * s["k"] / np.sqrt(dh), fmt)
    out_mult, out_shift = _fixed(s["v"] / (QMAX * s["o"]), fmt)
    prog(Op.SET, mult=sm_mult, shift=sm_shift, mult2=out_mult, shift2=out_shift,
         theta=nl.theta_fixed(theta))

    def scores(h):
        gemm(off(Q, h * dh), off(K, h * dh), S[h % 2], R, T, dh, b_t=1)
        nonlinear(Fn.SOFTMAX, S[h % 2], Buffer.ACT, P[h % 2], R, T, aux_row=(h % 2) * R)
        if masks is not None:
            # ST's generate step: the head's keep masks, as the softmax made them
            prog(Op.STORE, buffer=Buffer.MASK, row=(h % 2) * R, col=0, rows=R, cols=T,
                 dram=mask_table[0] + h * T * mask_table[1], stride=mask_table[1])

    def attend(h):
        gemm(P[h % 2], off(V, h * dh), off(O_ACC, h * dh), R, dh, T)
        nonlinear(Fn.REQUANT, off(O_ACC, h * dh), Buffer.ACT, off(O, h * dh), R, dh,
                  row_scale=1, aux_row=(h % 2) * R)

    if st:
        low = img.put(np.full((1, 1, T), np.iinfo(np.int32).min), "<i4")[0]
        st_lists = [acc.row() if union is not None else None for _, _, union in units]

        def operands(n):
            """Unit ``n``'s keys and values: gathered, or the head's own."""
            h, _, union = units[n]
            if union is None:
                return off(K, h * dh), off(V, h * dh), T
            return KU[n % 2], VU[n % 2], union.size

        def scores(n):
            """Unit ``n``'s kept keys and values gathered, its scores under its mask."""
            h, tile, union = units[n]
            b = n % 2
            ku, vu, U = operands(n)
            if union is None:
                union = np.arange(T)
            else:
                load(Buffer.ACC, (st_lists[n], 0), np.broadcast_to(union, (B, 1, U)), "<i4")
                if kv_on:
                    for region, base in ((ku, h * dh), (vu, T * kv_row + h * dh)):
                        prog(Op.KV_GATHER, buffer=Buffer.WGT, row=region[0], col=region[1],
                             rows=U, cols=dh, base=base, stride=kv_row,
                             idx_row=st_lists[n], limit=T)
                for region, (addr, stride) in zip((ku, vu), kv_tables):
                    indexed(Op.GATHER, Buffer.WGT, region, U, dh, (addr + h * dh, stride),
                            st_lists[n])
            kept = np.zeros((B, len(tile), -(-U // 8) * 8), bool)
            kept[:, :, :U] = keep[:, h, tile.start:tile.stop][:, :, union]
            load(Buffer.MASK, MU[b], np.packbits(kept, axis=-1, bitorder="little"), np.uint8,
                 bits=kept.shape[-1])
            # the scores the mask drops stay the least int32: the softmax gives them 0
            prog(Op.LOAD, buffer=Buffer.ACC, row=S[b][0], col=S[b][1], rows=len(tile), cols=U,
                 dram=low, stride=0)
            prog(Op.GEMM_OS, a_row=Q[0] + tile.start, a_col=Q[1] + h * dh, b_row=ku[0],
                 b_col=ku[1], b_t=1, c_row=S[b][0], c_col=S[b][1], m=len(tile), n=U, k=dh,
                 init=Init.ZERO, mask_row=MU[b][0], mask_col=MU[b][1])
            # the softmax's keep mask over the one the GEMM has read
            nonlinear(Fn.SOFTMAX, S[b], Buffer.ACT, P[b], len(tile), U, aux_row=MU[b][0])

        def attend(n):
            h, tile, _ = units[n]
            b = n % 2
            _, vu, U = operands(n)
            at = down(off(O_ACC, h * dh), tile.start)
            # a dense GEMM: one under the softmax's mask would be as exact, but it
            # would hold the mask buffer until P V ends, and the next unit's mask
            # load would wait for it (docs/core.md has the measurement)
            gemm(P[b], vu, at, len(tile), dh, U)
            nonlinear(Fn.REQUANT, at, Buffer.ACT, down(off(O, h * dh), tile.start), len(tile),
                      dh, row_scale=1, aux_row=MU[b][0])

    count = len(units) if st else H
    events = [("scores", 0)] + ([("scores", 1)] if count > 1 else [])
    for h in range(2, count):
        events += [("attend", h - 2), ("scores", h)]
    events += [("attend", h) for h in range(max(0, count - 2), count)]
    for kind, h in events:
        (scores if kind == "scores" else attend)(h)
    if sparse:
        for rows in chunks:
            fc1_loads(rows)
        emit(groups[-1])

    # -- projection and FFN in row chunks, software-pipelined: one chunk's
    # GELU (and adds, LayerNorm) beside the engine's GEMMs of the next --
    g_mult, g_shift, g_mult2, g_shift2 = nl.gelu_params(unit["fc1"], s["g"], fmt)
    for rows in chunks:
        gemm(down(O, rows.start), WPROJ, down(PROJ_ACC, rows.start), len(rows), d, d,
             bias_name="bproj")
        add(PROJ_ACC, "gate1", gs1, rows)
        layernorm("gain2", "bias2", ms2, H2, rows)

    def sparse_gemm(op, a, b, c_at, m, n, k, rows, b_t=0, init=Init.ACCUMULATE, **kw):
        prog(op, a_row=a[0], a_col=a[1], b_row=b[0], b_col=b[1], b_t=b_t, c_row=c_at[0],
             c_col=c_at[1], m=m, n=n, k=k, init=init, mask_row=FFN_MASK[0] + rows.start,
             mask_col=FFN_MASK[1], condensed=int(condensed), **kw)

    def ffn_gemm(op, a, b, c_at, n, k, bias_name, rows, b_t=0):
        """An FFN GEMM of ``rows``: with its bias, or on a sparse step ``op``
        under the mask, onto what ``C`` already holds."""
        if sparse:
            sparse_gemm(op, down(a, rows.start), b, down(c_at, rows.start), len(rows), n, k,
                        rows, b_t=b_t)
        else:
            gemm(down(a, rows.start), b, down(c_at, rows.start), len(rows), n, k, b_t=b_t,
                 bias_name=bias_name)

    def fc1(rows):
        ffn_gemm(Op.GEMM_OS, H2, W1, FC1_ACC, f_dim, d, "b1", rows)
        if reuse is not None and reuse.kind == "dense":
            prog(Op.MASKGEN, src_row=FC1_ACC[0] + rows.start, src_col=FC1_ACC[1],
                 dst_row=FFN_MASK[0] + rows.start, dst_col=FFN_MASK[1], rows=len(rows),
                 length=f_dim, threshold=int(reuse.threshold) % (1 << 32))
            prog(Op.STORE, buffer=Buffer.MASK, row=FFN_MASK[0] + rows.start, col=FFN_MASK[1],
                 rows=len(rows), cols=f_dim, dram=mask_addr + rows.start * mask_stride,
                 stride=mask_stride)
        prog(Op.SET, mult=g_mult, shift=g_shift, mult2=g_mult2, shift2=g_shift2)
        nonlinear(Fn.GELU, down(FC1_ACC, rows.start), Buffer.ACT, down(G, rows.start),
                  len(rows), condensed_length(rows) if condensed else f_dim)

    def fc2(rows):
        if sparse:
            # the cached partial (its bias included); then only the recomputed inputs
            load(Buffer.ACC, down(FC2_ACC, rows.start),
                 np.asarray(reuse.partial, np.int32)[:, rows], "<i4")
        if reuse is not None and reuse.kind == "dense":
            # the cached partial (the bias and the inputs the sparse steps
            # reuse) under the inverted mask, stored; then the masked
            # inputs onto it
            at = down(FC2_ACC, rows.start)
            broadcast(FC2_ACC, bias("fc2"), rows)
            sparse_gemm(Op.GEMM_IS, down(G, rows.start), W2T, at, len(rows), d, f_dim, rows,
                        b_t=1, invert=1)
            prog(Op.STORE, buffer=Buffer.ACC, row=at[0], col=at[1], rows=len(rows), cols=d,
                 dram=part_addr + rows.start * part_stride, stride=part_stride)
            sparse_gemm(Op.GEMM_IS, down(G, rows.start), W2T, at, len(rows), d, f_dim, rows,
                        b_t=1)
        else:
            ffn_gemm(Op.GEMM_IS, G, W2T, FC2_ACC, d, f_dim, "b2", rows, b_t=1)
        add(FC2_ACC, "gate2", gs2, rows)
        if ctr:
            indexed(Op.SCATTER, Buffer.ACC, down(X, rows.start), len(rows), d,
                    (out_addr, out_stride), lists[rows.start // chunk_rows])
        else:
            prog(Op.STORE, buffer=Buffer.ACC, row=X[0] + rows.start, col=X[1], rows=len(rows),
                 cols=d, dram=out_addr + rows.start * out_stride, stride=out_stride)

    fc1(chunks[0])
    for prev, rows in zip(chunks, chunks[1:]):
        fc1(rows)
        fc2(prev)
    fc2(chunks[-1])
    prog(Op.FINISH)
    prog.words = with_tokens(prog.words)
    # the core would refuse it: a mistake of this compiler, named before it runs
    _, (bad, at, why) = accepted(prog.words, cfg)
    if bad != Error.NONE:
        raise ValueError(f"the block's program is malformed at descriptor {at}: "
                         f"{bad.name}: {why}")
    stuck = deadlock(prog.words, cfg)
    if stuck is not None:
        raise ValueError(f"cfg: the block's program deadlocks at descriptor {stuck} with "
                         f"queue_depth {cfg.queue_depth} and token_depth {cfg.token_depth}; "
                         f"deeper queues would run it")
    scales = dict(s, x=s_x, **{f"w_{k}": v[1] for k, v in w.items()})
    kept = None
    if reuse is not None and reuse.kind == "dense":
        kept = {"mask": (mask_addr, T, mask_stride), "partial": (part_addr, T, d),
                "fc1": (*FC1_ACC, T, f_dim)}
    cache = {name: (addr, T, d) for name, (addr, _) in zip("kv", kv_tables)} or None
    stored = (mask_table[0], H, T, mask_table[1]) if masks is not None and not st else None
    used = {"act_rows": act.top, "wgt_rows": wgt.top, "acc_rows": acc.top,
            "mask_rows": mask_rows, "dram_bytes": img.top}
    return Compiled(program=prog.words, dram=img.mem, out=(out_addr, T, d), out_scale=s_x,
                    scales=scales, cfg=cfg, reuse=kept, cache=cache, masks=stored, used=used)


def _amax_int_residual(s_residual_cal, s_x):
    """The residual stream's largest integer: the calibrated magnitude at ``s_x``."""
    return s_residual_cal * RESIDUAL_TOP / s_x


def block_output(compiled, result):
    """The block's output ``[B, T, d]`` as floats, from :func:`.core.run`'s result."""
    addr, rows, cols = compiled.out
    raw = result.dram[:, addr:addr + rows * cols * 4]
    return raw.copy().view("<i4").reshape(-1, rows, cols).astype(np.float64) * compiled.out_scale


def token_cache(compiled, result):
    """A CTR step's token cache after it, from :func:`.core.run`'s result:
    ``(k, v, out)``, ``[B, T, d]`` int8 keys and values and int32 block
    outputs (what the next reuse step's :class:`TokenStep` takes)."""
    if not compiled.cache:
        raise ValueError("compiled: not a CTR step")
    k, v = (result.dram[:, a:a + rows * cols].copy().view(np.int8).reshape(-1, rows, cols)
            for a, rows, cols in (compiled.cache["k"], compiled.cache["v"]))
    addr, rows, cols = compiled.out
    out = result.dram[:, addr:addr + rows * cols * 4].copy().view("<i4")
    return k, v, out.reshape(-1, rows, cols)


def keep_masks(compiled, result):
    """ST's generate step's keep masks ``[B, H, T, T]`` (bool), from
    :func:`.core.run`'s result (what the reuse step's :class:`MaskStep` takes)."""
    if not compiled.masks:
        raise ValueError("compiled: not an ST generate step")
    addr, heads, rows, nbytes = compiled.masks
    raw = result.dram[:, addr:addr + heads * rows * nbytes].reshape(-1, heads, rows, nbytes)
    return np.unpackbits(raw, axis=-1, bitorder="little").astype(bool)


def fc1_accumulators(compiled, result):
    """A dense FFN-Reuse step's FC1 accumulators ``[B, T, F]`` (int32, the
    bias included: what ``MASKGEN`` compares), from :func:`.core.run`'s
    result."""
    if not compiled.reuse:
        raise ValueError("compiled: not a dense FFN-Reuse step")
    row, col, rows, cols = compiled.reuse["fc1"]
    return result.buffers[Buffer.ACC][:, row:row + rows, col:col + cols].copy()


def reuse_outputs(compiled, result):
    """A dense FFN-Reuse step's mask ``[B, T, F]`` (bool) and cached partial
    ``[B, T, d]`` (int32), from :func:`.core.run`'s result."""
    if not compiled.reuse:
        raise ValueError("compiled: not a dense FFN-Reuse step")
    addr, rows, nbytes = compiled.reuse["mask"]
    raw = result.dram[:, addr:addr + rows * nbytes].reshape(-1, rows, nbytes)
    mask = np.unpackbits(raw, axis=-1, bitorder="little").astype(bool)
    addr, rows, cols = compiled.reuse["partial"]
    partial = result.dram[:, addr:addr + rows * cols * 4].copy().view("<i4")
    return mask, partial.reshape(-1, rows, cols)
