"""CTR's reuse decision in integers, bit-exact: the golden twin of
:class:`exdisc.hw.ctr_select.CtrSelector`.

The float decision (:class:`exdisc.golden.ctr.CachedTokenReuse`, history form)
reuses the ``count`` tokens with the smallest ``h + w * m / mean(m)``. The
integer one ranks the same quantity scaled by ``T * mean(m) * 2^F``:

```
dz    : the latent difference, signed integers of ``dz_width`` bits,
        ``round(dz * 2^frac_bits)`` saturated (:func:`quantize_change`)
m[t]  = sum of |dz| over the token's values          (the mean without its divisor)
M     = sum over tokens of m (1 if that is 0: the step ranks by history alone)
S[t]  = h[t] * M + (T * m[t]) << (F - weight_shift)   (w = 2^-weight_shift)
reuse : the ``count`` smallest S, ties to the lower index
h[t] <- h[t] - (h[t] >> decay_shift) + (2^F if t reused)   (decay = 1 - 2^-decay_shift)
```

``h`` is the reuse history in fixed point with ``F = hist_frac`` fraction
bits; it stays below ``2^(F + decay_shift) + 2^decay_shift``. Dividing ``S``
by ``M * 2^F`` gives the float score exactly, up to the history's truncation
(at most one unit of ``2^-F`` per step) and the quantization of ``dz``.
"""

import numpy as np

from .ctr import CachedTokenReuse, patches

__all__ = ["quantize_change", "token_sums", "scores", "select", "update_history",
           "IntegerCTR", "IntegerDecisionCTR", "compare"]


def quantize_change(dz, frac_bits, width):
    """``round(dz * 2^frac_bits)``, saturated to signed ``width`` bits (int64)."""
    hi = (1 << (width - 1)) - 1
    return np.clip(np.rint(np.asarray(dz, dtype=np.float64) * 2.0 ** frac_bits),
                   -hi - 1, hi).astype(np.int64)


def token_sums(dzq):
    """``m [..., T]``: the sum of ``|dz|`` over each token's values (``dzq [..., T, values]``)."""
    return np.abs(np.asarray(dzq, dtype=np.int64)).sum(-1)


def scores(m, h, hist_frac, weight_shift):
    """``S [..., T]`` of the token sums ``m`` and histories ``h`` (int64)."""
    m = np.asarray(m, dtype=np.int64)
    h = np.asarray(h, dtype=np.int64)
    # a step that changed nothing ranks by history alone, as the float model does
    total = np.maximum(m.sum(-1, keepdims=True), 1)
    return h * total + (m * m.shape[-1] << (hist_frac - weight_shift))


def select(s, count):
    """Reused tokens: the ``count`` smallest of ``s [..., T]``, ties to the lower index."""
    s = np.asarray(s)
    order = np.argsort(s, axis=-1, kind="stable")
    reused = np.zeros(s.shape, dtype=bool)
    np.put_along_axis(reused, order[..., :count], True, axis=-1)
    return reused


def update_history(h, reused, hist_frac, decay_shift):
    """``h - (h >> decay_shift) + 2^hist_frac`` where reused, else without the last term."""
    h = np.asarray(h, dtype=np.int64)
    return h - (h >> decay_shift) + (np.asarray(reused, dtype=np.int64) << hist_frac)


class IntegerCTR:
    """The decision of successive steps, with its history.

    Parameters
    ----------
    tokens : int
        ``T``.
    hist_frac, decay_shift, weight_shift : int
        The history's fraction bits, ``decay = 1 - 2^-decay_shift`` and ``w =
        2^-weight_shift``.

    Members
    -------
    history : ndarray
        ``[T]`` int64, the fixed-point reuse history (zero at the start).
    """

    def __init__(self, tokens, hist_frac=8, decay_shift=2, weight_shift=1):
        self.hist_frac, self.decay_shift, self.weight_shift = hist_frac, decay_shift, weight_shift
        self.history = np.zeros(tokens, dtype=np.int64)

    def step(self, dzq, count, restart=False):
        """Fresh tokens ``[T]`` of one step: ``dzq [T, values]``, ``count`` tokens reused.

        A full step is ``count = 0`` (its ``dzq`` does not matter): every token
        is fresh and the history decays. ``restart`` zeroes the history first
        (a run's first step). A ``count`` above ``T`` reuses every token.
        """
        if restart:
            self.history[:] = 0
        s = scores(token_sums(dzq), self.history, self.hist_frac, self.weight_shift)
        reused = select(s, count)
        self.history = update_history(self.history, reused, self.hist_frac, self.decay_shift)
        return ~reused


def compare(float_steps, frac_bits, dz_width, hist_frac=8, decay_shift=2, weight_shift=1):
    """The integer decision beside the float one, step by step, on the float run's inputs.

    ``float_steps``: per step of a float CTR run (one sequence), ``(dz [C, H,
    W] or None on a full step, patch, count, fresh [T], score [T] or None)``,
    the float score as :meth:`~exdisc.golden.ctr.CachedTokenReuse.score`
    gives it. The integer history follows the float run's decisions, so that
    every step is compared on the same state.

    Returns ``{"steps", "tokens", "differ", "ties", "worst_gap"}``: the partial
    steps compared, their token decisions, how many differ, how many of those
    are quantization ties, and the largest distance of a differing token's
    float score from the float boundary (the midpoint of the ``count``-th and
    the next smallest score). A tie is a differing token within the error
    the integers allow of that boundary: the history's truncation (below
    ``2^(decay_shift - hist_frac)``) and the rounding of ``dz`` (half a unit
    per value, weighted as the score weighs the change).
    """
    h = None
    out = {"steps": 0, "tokens": 0, "differ": 0, "ties": 0, "worst_gap": 0.0}
    for dz, patch, count, fresh, score in float_steps:
        fresh = np.asarray(fresh, dtype=bool)
        if h is None:
            h = np.zeros(len(fresh), dtype=np.int64)
        if dz is not None:
            values = patches(dz[None], patch)[0]
            dzq = quantize_change(values, frac_bits, dz_width)
            differ = ~select(scores(token_sums(dzq), h, hist_frac, weight_shift), count) != fresh
            out["steps"] += 1
            out["tokens"] += len(fresh)
            out["differ"] += int(differ.sum())
            if differ.any():
                ordered = np.sort(score)
                mid = (ordered[count - 1] + ordered[min(count, len(fresh) - 1)]) / 2
                gap = np.abs(score[differ] - mid)
                mean = np.abs(values).sum(-1).mean()
                # either token of a swapped pair may err either way: twice one's error
                tol = 2 * (2.0 ** (decay_shift - hist_frac) + 2.0 ** -weight_shift
                           * values.shape[-1] * 2.0 ** -(frac_bits + 1) / mean)
                out["worst_gap"] = max(out["worst_gap"], float(gap.max()))
                out["ties"] += int((gap <= tol).sum())
        h = update_history(h, ~fresh, hist_frac, decay_shift)
    return out


def _shift_of(name, value, of_one_minus=False):
    """``s`` with ``value == 2^-s`` (or ``1 - 2^-s``), else a ValueError."""
    x = 1.0 - value if of_one_minus else value
    s = -np.log2(x) if 0 < x <= 1 else np.nan
    if not np.isfinite(s) or s != round(s):
        form = "1 - 2^-s" if of_one_minus else "2^-s"
        raise ValueError(f"{name}: the integer decision needs {form}, got {value!r}")
    return int(round(s))


class IntegerDecisionCTR(CachedTokenReuse):
    """CTR whose decision is the hardware's (:class:`IntegerCTR`, one per
    sequence): the latent differences quantized with ``frac_bits`` fraction
    bits to ``dz_width`` bits, the history in ``hist_frac`` fraction bits.
    The other parameters are :class:`~exdisc.golden.ctr.CachedTokenReuse`'s;
    the history form's ``decay`` and ``weight`` must be ``1 - 2^-s`` and
    ``2^-s``. A whole sampling run with it measures what the integers cost."""

    name = "ctr_integer"

    def __init__(self, frac_bits=12, dz_width=16, hist_frac=8, **kwargs):
        super().__init__(**kwargs)
        if self.staleness != "history" or self.control or not self.least_changed \
                or self.reference != "previous" or self.metric != "mean_abs":
            raise ValueError("the integer decision implements the default form only: history "
                             "staleness, mean_abs against the previous step, least changed")
        self.decay_shift = _shift_of("decay", self.decay, of_one_minus=True)
        self.weight_shift = _shift_of("weight", self.weight)
        self.frac_bits, self.dz_width, self.hist_frac = frac_bits, dz_width, hist_frac

    def describe(self):
        return {**super().describe(), "frac_bits": self.frac_bits, "dz_width": self.dz_width,
                "hist_frac": self.hist_frac}

    def reset(self, model, steps):
        super().reset(model, steps)
        self.integer = None

    def begin_step(self, step, z):
        t = self.model.cfg.tokens
        if self.integer is None:
            self.integer = [IntegerCTR(t, self.hist_frac, self.decay_shift, self.weight_shift)
                            for _ in range(len(z))]
        if self.ref is None or step in self.full_steps:
            # a full step: every token fresh, the histories decay (restart on the first)
            for model in self.integer:
                model.step(np.zeros((t, 1), dtype=np.int64), 0, restart=self.ref is None)
        super().begin_step(step, z)

    def score(self, step, z):
        count = int(round(self.reuse * self.model.cfg.tokens))
        dzq = quantize_change(patches(z - self.ref, self.model.cfg.patch), self.frac_bits,
                              self.dz_width)
        # the reused tokens score 0, the fresh 1: choose_fresh then reuses exactly them
        return np.stack([model.step(d, count).astype(float) for model, d in
                         zip(self.integer, dzq)])
