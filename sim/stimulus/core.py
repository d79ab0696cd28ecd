"""Descriptor programs for the core's RTL tests, and the golden model's view
of a :class:`~exdisc.hw.core.params.CoreParams`."""

from exdisc.golden import core as gcore
from exdisc.golden.core_isa import FIELDS, Op, encode
from exdisc.hw.core.params import CoreParams


__all__ = ["golden_config", "random_descriptor", "random_program"]


def golden_config(p):
    """The golden core model's :class:`~exdisc.golden.core.CoreConfig` for ``p``."""
    if not isinstance(p, CoreParams):
        raise TypeError(f"p: expected a CoreParams, got {p!r}")
    return gcore.CoreConfig(width=p.width, act_rows=p.act_rows, wgt_rows=p.wgt_rows,
                            acc_rows=p.acc_rows, mask_rows=p.mask_rows, max_len=p.max_len,
                            token_depth=p.token_depth, dram_bytes=p.dram_bytes)


def _value(rng, name, bits, p, wild):
    """A field value near the limits of ``p`` (so that both well-formed and
    malformed descriptors come up), or with ``wild`` anything the field holds."""
    if wild:
        return int(rng.integers(0, 1 << bits))
    rows = max(p.act_rows, p.wgt_rows, p.acc_rows, p.mask_rows)
    if rng.random() < 0.5 and name not in ("dram", "stride") and (
            name.endswith(("row", "rows", "col", "cols", "length")) or name in "mnk"):
        # halves and neighbours of every limit, so that sums land on a
        # limit, just inside it and just past it
        limits = (p.act_rows, p.wgt_rows, p.acc_rows, p.mask_rows, p.width, p.max_len)
        edges = sorted({v for lim in limits for v in (lim // 2, lim // 2 + 1, lim - 1, lim)} |
                       {0, 1, 2, 4, 7, 8, 9, 12})
        edges = [v for v in edges if v < 1 << bits]
        return int(rng.choice(edges))
    near = {"row": rows, "rows": rows, "col": p.width, "cols": p.width, "m": p.width,
            "n": p.width, "k": p.width, "length": p.max_len + 2, "dram": p.dram_bytes,
            "stride": p.dram_bytes // 8}
    for key, hi in near.items():
        if name == key or name.endswith("_" + key):
            return int(min(rng.integers(0, hi // 2 + 2), (1 << bits) - 1))
    if name in ("pop", "push"):
        return sum(1 << q for q in range(4) if rng.random() < 0.1)
    return int(rng.integers(0, 1 << bits))


def random_descriptor(rng, p, wild_prob=0.05):
    """One descriptor: any operation code (mostly the core's), fields near
    ``p``'s limits, now and then one field anything at all."""
    code = int(rng.integers(1, 8)) if rng.random() < 0.95 else int(rng.integers(0, 16))
    if code not in {int(o) for o in Op}:
        return code | (int(rng.integers(0, 1 << 60)) << 8)
    op = Op(code)
    wild = int(rng.integers(0, len(FIELDS[op]) + 1)) if rng.random() < wild_prob else -1
    fields = {name: _value(rng, name, bits, p, n == wild)
              for n, (name, bits) in enumerate(FIELDS[op])}
    tokens = {name: _value(rng, name, 4, p, False) for name in ("pop", "push")}
    if op in (Op.LOAD, Op.STORE) and rng.random() < 0.3:
        # the last byte of the transfer on the end of external memory, or one past it
        nbytes = fields["cols"] // 8 if fields["buffer"] == 3 else \
            fields["cols"] * (4 if fields["buffer"] == 2 else 1)
        span = max(fields["rows"] - 1, 0) * fields["stride"] + nbytes
        fields["dram"] = min(max(p.dram_bytes - span + int(rng.integers(-1, 2)), 0),
                             (1 << 32) - 1)
    return encode(op, **fields, **tokens)


def random_program(rng, p, length, well_formed=False):
    """``length`` random descriptors; with ``well_formed``, only those the
    golden model accepts."""
    cfg, out = golden_config(p), []
    while len(out) < length:
        word = random_descriptor(rng, p)
        if not well_formed or gcore.validate(cfg, word)[0] == gcore.Error.NONE:
            out.append(word)
    return out
