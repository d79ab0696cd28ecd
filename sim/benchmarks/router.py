"""Benchmark of the hash bank router: sustained requests per lane per cycle
and latency on real and synthetic access traces, both hashes, ``B = P`` and
``B = 2P``, measured on the emitted Verilog at full rate."""

import json

import numpy as np

from exdisc.golden import router as gr
from exdisc.hw.router import RouterParams
from exdisc.common.progress import log as default_log, track
from exdisc.sim.harness.runner import run_unit
from exdisc.common.tables import Table
from .common import bench_file


__all__ = ["TRACES", "WORD_CHOICES", "TARGET", "router_traces", "run", "record_name", "tables",
           "failures", "plot"]

#: Requests per lane per cycle the router should sustain (with B = 2P, xor).
TARGET = 0.95


# The DiT's token grid, and the bits of a token row (d = 64 int8) and of one
# head's key (dh = 16 int8): with 32-bit words a row is 16 words, a key 4.
GRID, TOKEN_BITS, KEY_BITS, WORD_BITS = 16, 64 * 8, 16 * 8, 32
WORD_CHOICES = (8, 16, 32, 64, 128)

TRACES = {
    "ctr": "CTR fresh tokens, engine-feed gather (lane n: rows n, n+P, ...)",
    "st": "ST kept keys of 16 queries, engine-feed gather",
    "stride_grid": "stride = grid width in words (a column of the token grid)",
    "stride_B": "stride = B words",
    "stride_4B": "stride = 4 B words",
    "uniform": "uniform random addresses",
}


def router_traces(p, per_lane, seed=0):
    """Per-lane read addresses of every trace in :data:`TRACES` for router
    ``p``, whose ``data_width`` is the word the gathers are cut into."""
    if p.data_width not in WORD_CHOICES:
        raise ValueError(f"parameter 'data_width' of a benchmarked router must be one of "
                         f"{WORD_CHOICES} (whole words per key), not {p.data_width!r}")
    token_words, key_words = TOKEN_BITS // p.data_width, KEY_BITS // p.data_width
    space = p.addr_width
    n = per_lane * p.lanes
    out = {
        "ctr": gr.ctr_gather(p.lanes, token_words, limit=per_lane),
        "st": gr.st_gather(p.lanes, key_words, limit=per_lane),
        "stride_grid": gr.strided(GRID * token_words, n, p.lanes, space),
        "stride_B": gr.strided(p.banks, n, p.lanes, space),
        "stride_4B": gr.strided(4 * p.banks, n, p.lanes, space),
        "uniform": gr.uniform(per_lane, p.lanes, space, np.random.default_rng(seed)),
    }
    for name, lanes in out.items():
        if any(a >= 1 << space for lane in lanes for a in lane):
            raise ValueError(f"addr_width: {p.addr_width!r} is too narrow for trace {name!r}")
    return out


def run(lanes=16, *, per_lane=400, hashes=gr.HASHES, bank_factors=(1, 2), addr_width=14,
        word_bits=WORD_BITS, seed=0, log=default_log):
    """Measure every trace on every (hash, B) point; returns the record."""
    points = [(h, f) for h in hashes for f in bank_factors]
    runs = []
    for hash, factor in track(points, f"router P={lanes}: hash and bank points"):
        p = RouterParams(lanes=lanes, banks=lanes * factor, addr_width=addr_width,
                         data_width=word_bits, hash=hash)
        traces = router_traces(p, per_lane, seed)
        spec = bench_file("router", p, "bench.json")
        spec.write_text(json.dumps({"traces": traces}))
        log(f"[bench] router P={lanes} B={p.banks} {hash}: {len(traces)} traces")
        run_unit("router", p, "exdisc.sim.testbenches.router_bench", run_name="bench",
                 env={"EXDISC_BENCH": spec}, log=log)
        results = json.loads(spec.read_text())["results"]
        for name, r in results.items():
            loads = gr.bank_loads(traces[name], p.banks, hash)
            r.update(trace=name, hash=hash, banks=p.banks, lanes=lanes,
                     hot_bank_share=float(loads.max() / loads.sum()))
            runs.append(r)
    return {"lanes": lanes, "per_lane": per_lane, "addr_width": addr_width,
            "word_bits": word_bits, "traces": TRACES,
            "params": RouterParams(lanes=lanes).as_dict(), "runs": runs}


def record_name(record):
    """``router_p<P>`` (``_w<bits>`` for words other than 32 bits)."""
    suffix = "" if record["word_bits"] == WORD_BITS else f"_w{record['word_bits']}"
    return f"router_p{record['lanes']}{suffix}"


def _configs(record):
    return sorted({(r["hash"], r["banks"]) for r in record["runs"]})


def tables(record):
    """One row per trace: rate and p99 latency per (hash, B)."""
    configs = _configs(record)
    by = {(r["trace"], r["hash"], r["banks"]): r for r in record["runs"]}
    rows = [[trace] + [f"{by[trace, h, b]['rate']:.3f} ({by[trace, h, b]['latency_p99']:.0f})"
                       for h, b in configs]
            for trace in record["traces"]]
    return [Table(["trace"] + [f"{h} B={b}" for h, b in configs], rows,
                  title=f"Hash bank router, P = {record['lanes']}, {record['word_bits']}-bit "
                        f"words (exdisc bench router)",
                  caption=f"Requests per lane per cycle at full rate (p99 latency in cycles), "
                          f"{record['per_lane']} requests per lane per trace. " + "; ".join(
                              f"{k}: {v}" for k, v in record["traces"].items()) + ".")]


def failures(record):
    return []       # every response is checked in the run; the rates are figures, not checks


def plot(record, path):
    """Rate per trace, one bar per (hash, B), with the target."""
    from .plots import grouped_bars
    configs = _configs(record)
    by = {(r["trace"], r["hash"], r["banks"]): r["rate"] for r in record["runs"]}
    series = {f"{h}, B = {b}": [by[t, h, b] for t in record["traces"]] for h, b in configs}
    return grouped_bars(path, list(record["traces"]), series, ylim=(0, 1.05),
                        ylabel="requests per lane per cycle", xlabel="access trace",
                        marks={f"target {TARGET}": TARGET},
                        title=f"Hash bank router, P = {record['lanes']}, "
                              f"{record['word_bits']}-bit words")
