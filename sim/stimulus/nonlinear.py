"""Rows for the non-linear unit and their expected results from the golden model.

A :class:`Row` is one command, its values and the output beats that
:mod:`exdisc.golden.nonlinear` says the unit must write for it. Programs are
lists of rows: random ones of every operation (with the edge cases of the
issue: equal values, minimum values, saturation, one-element rows, the
maximum last), and real rows of the tiny DiT (attention scores, FC1
accumulators, residual-stream rows with their adaLN modulation).
"""

import dataclasses

import numpy as np

from exdisc.golden import nonlinear as gnl
from exdisc.hw.nonlinear import ACC_WIDTH, Op


__all__ = ["Row", "RowBuilder", "golden_format", "random_program", "edge_program",
           "dit_program", "beats", "commands", "expected"]

ACC_MIN, ACC_MAX = -(1 << (ACC_WIDTH - 1)), (1 << (ACC_WIDTH - 1)) - 1


def golden_format(p):
    """The golden model's :class:`~exdisc.golden.nonlinear.Format` of a unit's parameters."""
    return gnl.Format(**{f.name: getattr(p, f.name) for f in dataclasses.fields(gnl.Format)})


@dataclasses.dataclass
class Row:
    """One command of the unit: ``cmd`` (the command payload), ``values``
    (the row), ``out`` (expected output beats; none for loads)."""
    op: Op
    cmd: dict
    values: list
    out: list


def _cmd(op, length, mult=0, shift=0, mult2=0, shift2=0, theta=0, pre=0):
    return {"op": op.value, "length": length, "mult": mult, "shift": shift, "mult2": mult2,
            "shift2": shift2, "theta": theta, "pre": pre}


def _beats_of(p, values, fill=0):
    n = len(values)
    padded = list(values) + [fill] * (-n % p.lanes)
    return [padded[k:k + p.lanes] for k in range(0, len(padded), p.lanes)]


def _out_beats(p, data, keep=None, row_mult=0, row_shift=0):
    data = [int(v) for v in data]
    keep = [bool(k) for k in keep] if keep is not None else [False] * len(data)
    out = []
    beats = _beats_of(p, data)
    keeps = _beats_of(p, keep, False)
    for k, (d, kb) in enumerate(zip(beats, keeps)):
        out.append({"data": d, "keep": sum(int(b) << n for n, b in enumerate(kb)),
                    "row_mult": int(row_mult), "row_shift": int(row_shift),
                    "last": int(k == len(beats) - 1)})
    return out


class RowBuilder:
    """Makes rows and their expected outputs, keeping the modulation the
    unit holds (the last gains and biases loaded)."""

    def __init__(self, p):
        self.p, self.fmt = p, golden_format(p)
        self.gain = np.zeros(p.beats_max * p.lanes, np.int64)
        self.bias = np.zeros(p.beats_max * p.lanes, np.int64)

    def softmax(self, x, mult, shift, out_mult, out_shift, theta):
        prob, keep, rm, rs = gnl.softmax(np.array([x]), mult, shift, out_mult, out_shift, theta,
                                         self.fmt)
        return Row(Op.SOFTMAX, _cmd(Op.SOFTMAX, len(x), mult, shift, out_mult, out_shift, theta),
                   list(x), _out_beats(self.p, prob[0], keep[0], rm[0], rs[0]))

    def gelu(self, x, m_in, s_in, m_out, s_out):
        y = gnl.gelu(np.array([x]), m_in, s_in, m_out, s_out, self.fmt)[0]
        return Row(Op.GELU, _cmd(Op.GELU, len(x), m_in, s_in, m_out, s_out), list(x),
                   _out_beats(self.p, y))

    def requant(self, x, mult, shift):
        y = gnl.requantize(np.array([x]), mult, shift, self.fmt)[0]
        return Row(Op.REQUANT, _cmd(Op.REQUANT, len(x), mult, shift), list(x),
                   _out_beats(self.p, y))

    def load(self, op, values):
        target = self.gain if op == Op.LOAD_GAIN else self.bias
        target[:len(values)] = values
        return Row(op, _cmd(op, len(values)), [int(v) for v in values], [])

    def layer_norm(self, x, pre, mod_shift):
        n = len(x)
        y = gnl.layer_norm(np.array([x]), pre, self.gain[:n], self.bias[:n], mod_shift,
                           self.fmt)[0]
        return Row(Op.LAYERNORM, _cmd(Op.LAYERNORM, n, shift2=mod_shift, pre=pre), list(x),
                   _out_beats(self.p, y))


def _ints(rng, n, bits):
    return [int(v) for v in rng.integers(-(1 << bits), 1 << bits, n)]


def random_program(p, rng, rows):
    """``rows`` random rows of every operation (``rng``: a NumPy Generator);
    loads of gains and biases come before LayerNorm rows."""
    b = RowBuilder(p)
    fmt = b.fmt
    out = []
    mult_max = (1 << p.mult_bits) - 1
    gain_lim = (1 << (p.mult_bits - 1)) - 1
    while len(out) < rows:
        op = rng.choice(["softmax", "gelu", "layernorm", "requant"])
        n = int(rng.choice([1, p.lanes, p.max_len, rng.integers(1, p.max_len + 1)]))
        bits = int(rng.integers(4, 31))
        x = _ints(rng, n, bits)
        if op == "softmax":
            mult, shift = gnl.softmax_params(float(rng.uniform(0.5, 8.0)) / (1 << bits) * 16, fmt)
            theta = int(rng.choice([gnl.theta_fixed(1e-3), rng.integers(0, 1 << 32)]))
            out.append(b.softmax(x, mult, shift, int(rng.integers(1 << (p.mult_bits - 1), mult_max)),
                                 int(rng.integers(0, 40)), theta))
        elif op == "gelu":
            m_in, s_in = gnl.fixed_multiplier(float(rng.uniform(1, 10)) * (1 << p.gelu_frac)
                                              / (1 << bits), fmt)
            out.append(b.gelu(x, m_in, s_in, int(rng.integers(0, mult_max)),
                              int(rng.integers(0, 24))))
        elif op == "requant":
            out.append(b.requant(x, int(rng.integers(0, mult_max + 1)), int(rng.integers(0, 63))))
        else:
            out.append(b.load(Op.LOAD_GAIN, rng.integers(-gain_lim, gain_lim + 1, n)))
            out.append(b.load(Op.LOAD_BIAS, rng.integers(-(1 << 24), 1 << 24, n)))
            pre = int(rng.integers(0, 16))
            out.append(b.layer_norm(x, pre, int(rng.integers(p.norm_frac, p.norm_frac + 24))))
    return out


def edge_program(p):
    """The edge cases: equal values, minimum values, saturating values, a
    one-element row, the maximum last, for every operation."""
    b = RowBuilder(p)
    fmt = b.fmt
    n = p.max_len
    rows = []
    ramp = list(range(-n + 1, 1))                       # maximum last
    cases = [[7] * n, [ACC_MIN] * n, [ACC_MAX] * n, [ACC_MIN, ACC_MAX] * (n // 2) or [ACC_MAX],
             [123], ramp, [ACC_MAX] + [ACC_MIN] * (n - 1)]
    sm = gnl.softmax_params(1e-3, fmt)
    for x in cases:
        rows.append(b.softmax(x, *sm, 1 << (p.mult_bits - 1), 20, gnl.theta_fixed(1e-3)))
        rows.append(b.softmax(x, (1 << p.mult_bits) - 1, 0, (1 << p.mult_bits) - 1, 63,
                              (1 << 32) - 1))
        rows.append(b.gelu(x, *gnl.gelu_params(1e-3, 0.05, fmt)))
        rows.append(b.gelu(x, (1 << p.mult_bits) - 1, 0, (1 << p.mult_bits) - 1, 0))
        rows.append(b.requant(x, (1 << p.mult_bits) - 1, 0))
        rows.append(b.requant(x, 1, 62))
        rows.append(b.load(Op.LOAD_GAIN, [(1 << (p.mult_bits - 1)) - 1] * len(x)))
        rows.append(b.load(Op.LOAD_BIAS, [ACC_MIN + 1] * len(x)))
        rows.append(b.layer_norm(x, 0, p.norm_frac))
        rows.append(b.layer_norm(x, 16, 62))
    return rows


def dit_program(p, rows_per_op=2, seed=0):
    """Real rows of the tiny DiT (:func:`exdisc.golden.trace.nonlinear_rows`),
    cut to ``max_len`` values."""
    from exdisc.golden.trace import nonlinear_rows
    b = RowBuilder(p)
    fmt = b.fmt
    t = nonlinear_rows(rows=rows_per_op, seed=seed)
    n = p.max_len
    out = []
    for x in t["scores"]:
        out.append(b.softmax(x[:n].tolist(), *gnl.softmax_params(t["score_scale"], fmt),
                             *gnl.fixed_multiplier(1.0 / 127, fmt), gnl.theta_fixed(1e-3)))
    for x in t["fc1"]:
        out.append(b.gelu(x[:n].tolist(), *gnl.gelu_params(t["fc1_scale"], t["gelu_scale"], fmt)))
        out.append(b.requant(x[:n].tolist(), *gnl.fixed_multiplier(
            t["fc1_scale"] / t["gelu_scale"], fmt)))
    for x, (gain, bias, mod_shift), pre in zip(t["residual"], t["adaln"], t["pre"]):
        m = min(len(x), n)
        out.append(b.load(Op.LOAD_GAIN, gain[:m]))
        out.append(b.load(Op.LOAD_BIAS, bias[:m]))
        out.append(b.layer_norm(x[:m].tolist(), pre, mod_shift))
    return out


def beats(p, program):
    """The input beats of a program, in order."""
    return [beat for row in program for beat in _beats_of(p, row.values)]


def commands(program):
    return [row.cmd for row in program]


def expected(program):
    return [beat for row in program for beat in row.out]
