"""DiscCore: CTR's and ST's kinds of step of a DiT block on the RTL, against
the dense block on the same core, and whole sampling runs' cycles from the
cycle model calibrated by those runs.

:func:`steps` compiles one block of the recorded run (``tokens`` of its
tokens) five ways for a DiscCore: the dense block; CTR's full step (the
dense block, which also fills the token cache) and the reuse step of the
next sampling step on that cache, its fresh tokens as the float CTR ranks
them there; ST's generate step (the dense block, which also stores its keep
masks) and the reuse step of the next sampling step under those masks. Each
runs on the core's emitted Verilog with every outside
stream always offered and ready, every byte of external memory checked
against the golden core model, beside the cycle model of the same program.
Cycles are split by *part* of the block: the row-wise operations (LayerNorm,
the QKV, projection and FFN GEMMs, their requantization, GELU, the gated
adds), whose work scales with the fresh rows; attention (scores, softmax,
``P V``, the output's requantization), whose work scales with the fresh
queries times every key, or under ST with the keys each row tile keeps;
the token cache's gathers and scatters (CTR's); the kept keys' and values'
gathers (ST's); and the other loads and stores. :func:`sampling_run`
models the programs of every block of the DiT, scales each kind by the
RTL's cycles over the model's on the measured block, and weighs them by
CTR's full and reuse steps and by ST's generate and reuse steps.
"""

import numpy as np

from exdisc.common.tables import Table
from exdisc.golden import core as gcore

__all__ = ["TARGETS", "KINDS", "PARTS", "params_for", "steps", "sampling_run", "router",
           "router_params", "tables", "plot", "failures"]

#: The block's programs, by name.
KINDS = ("dense block", "ctr full step", "ctr reuse step", "st generate step", "st reuse step")
#: The parts of a block whose cycles are reported.
PARTS = ("row-wise", "attention", "token cache", "kept-key gathers", "other transfers")
#: The issue's targets: CTR's reuse step's row-wise operations within 15 % of
#: the fresh fraction times the dense block's; ST's reuse step's attention
#: within 15 % of the kept fraction times the dense block's (its gathers apart).
TARGETS = {"row_wise_excess": 0.15, "attention_excess": 0.15, "router_rate": 0.95}


def params_for(tokens, rows=8, cols=8, lanes=4, kv_banks=16):
    """A :class:`~exdisc.hw.core.params.DiscParams` whose buffers hold the
    three programs of a block of ``tokens`` tokens (as the compiler lays
    them out), on an ``rows x cols`` engine with ``lanes`` non-linear lanes
    and a K/V store router of ``kv_banks`` banks."""
    from exdisc.golden import core_compile as cc, trace
    from exdisc.hw.core.params import DiscParams
    from exdisc.sim.testbenches.core import chunk_rows
    big = gcore.CoreConfig(disc=True, exion=True, array_rows=rows)
    x, c = trace.block_input(step=3, layer=1)
    full = cc.compile_block(trace.model(), 1, x[:1, :tokens], c[:1], big,
                            chunk_rows=chunk_rows(tokens), tokens=cc.TokenStep())
    used = full.used
    heads, dh = trace.model().cfg.heads, trace.model().cfg.head_dim
    # the reuse steps hold at most the full step's rows, and besides: CTR's
    # fresh keys, values and lists; ST's gathered keys and values, two row
    # tiles' masks, a list per head and row tile, and a list per chunk of
    # rows for the K/V store's scatters
    extra = {"act_rows": 0, "wgt_rows": 2 * tokens,
             "acc_rows": heads * -(-tokens // rows) + -(-tokens // chunk_rows(tokens)),
             "mask_rows": max(0, 4 * rows - used["mask_rows"])}
    size = {k: -(-(used[k] + extra[k]) // 8) * 8 for k in extra}
    return DiscParams(width=256, max_len=256, dram_bytes=1 << max(18, used["dram_bytes"]
                                                                  .bit_length() + 1),
                      array_rows=rows, array_cols=cols, nl_lanes=lanes, kv_banks=kv_banks,
                      **size)


def _programs(p, layer, step, tokens, gather_below=None):
    """The block's programs (:data:`KINDS`), and ST's keep masks."""
    from exdisc.sim.testbenches.core import trace_block, trace_ctr_steps, trace_st_steps
    full, reuse = trace_ctr_steps(p, tokens, layer, step)
    gen, st, keep = trace_st_steps(p, tokens, layer, step, gather_below=gather_below)
    return dict(zip(KINDS, (trace_block(p, tokens, layer, step), full, reuse, gen, st))), keep


def _union(keep, rows):
    """The share of keys the row tiles of ``rows`` queries keep between them
    (what ST's reuse step gathers and computes)."""
    b, heads, t, _ = keep.shape
    return float(np.mean([keep[:, h, u:u + rows].any(axis=(0, 1)).mean()
                          for h in range(heads) for u in range(0, t, rows)]))


def _part(op, f, dims):
    """Which part of the block (:data:`PARTS`) a descriptor is, or None (``SET``)."""
    from exdisc.golden.core_isa import Fn, Op
    d, ffn, dh = dims
    if op in (Op.GATHER, Op.SCATTER):
        # ST's gathers take one head's columns; CTR's whole token rows
        return "kept-key gathers" if f["cols"] == dh else "token cache"
    if op in (Op.KV_GATHER, Op.KV_SCATTER):
        # ST's: the K/V store filled, and its kept keys and values gathered
        return "kept-key gathers"
    if op in (Op.LOAD, Op.STORE):
        return "other transfers"
    if op in (Op.GEMM_OS, Op.GEMM_IS):
        return "attention"
    if op == Op.GEMM:
        row_wise = (f["n"], f["k"]) in ((3 * d, d), (d, d), (ffn, d), (d, ffn))
        return "row-wise" if row_wise else "attention"
    if op == Op.NONLINEAR:
        attention = f["fn"] == Fn.SOFTMAX or f["row_scale"]
        return "attention" if attention else "row-wise"
    if op == Op.ADD:
        return "row-wise"
    return None


def _dims():
    from exdisc.golden import trace
    cfg = trace.model().cfg
    return cfg.hidden, cfg.ffn_dim, cfg.head_dim


def _fresh(comp):
    """The fresh tokens of a reuse step: the rows its gathers fetch."""
    from exdisc.golden.core_isa import Op, decode
    return sum(f["rows"] for op, f in map(decode, comp.program) if op == Op.GATHER)


def _measure(name, comp, p, timing, dims, seed, log):
    from .core import measure
    return measure("disc", name, comp, p, timing, lambda op, f: _part(op, f, dims), "parts",
                   seed, log)


def steps(p, layer=1, step=3, tokens=256, seed=0, log=None, gather_below=None):
    """The block's programs (:data:`KINDS`) on DiscCore ``p``'s emitted
    Verilog and in the cycle model: cycles, cycles by operation and by part
    (:data:`PARTS`), the engine's beats and busy fraction, the cycles lost
    to buffer port conflicts (RTL less model); CTR's reuse step's fresh
    fraction, and its row-wise and attention cycles against that fraction
    of the dense block's; ST's kept fraction (per query, and per row tile
    of queries: what the engine computes), and its reuse step's attention
    against the kept fraction of the dense block's (``gather_below``: ST's
    :class:`~exdisc.golden.core_compile.MaskStep`'s, default its default)."""
    from exdisc.common.progress import log as default_log
    from exdisc.golden.core_isa import Op, decode
    from .core import timing
    from exdisc.golden.core_compile import GATHER_BELOW
    gather_below = GATHER_BELOW if gather_below is None else gather_below
    comps, keep = _programs(p, layer, step, tokens, gather_below)
    t, dims = timing(p), _dims()
    runs = {name: _measure(name, comp, p, t, dims, seed, log or default_log)
            for name, comp in comps.items()}
    fresh = _fresh(comps["ctr reuse step"])
    fraction = fresh / tokens
    dense, reuse = runs["dense block"], runs["ctr reuse step"]
    against = {part: reuse["parts"].get(part, 0) / (fraction * dense["parts"][part])
               for part in ("row-wise", "attention")}
    st = runs["st reuse step"]
    kept, union = float(keep.mean()), _union(keep, p.array_rows)
    gathered = sum(op in (Op.GATHER, Op.KV_GATHER)
                   for op, _ in map(decode, comps["st reuse step"].program)) // 2
    return {"params": p.as_dict(), "layer": layer, "step": step, "tokens": tokens,
            "fresh": fresh, "fresh_fraction": fraction, "runs": runs,
            "against_fraction": against, "cut": 1 - reuse["cycles"] / dense["cycles"],
            "st": {"theta": _theta(tokens), "kept": kept, "union": union,
                   "tiles_gathered": gathered, "gather_below": gather_below,
                   "tiles": keep.shape[1] * -(-tokens // p.array_rows),
                   "attention_against_kept": st["parts"]["attention"]
                   / (kept * dense["parts"]["attention"]),
                   "attention_against_union": st["parts"]["attention"]
                   / (union * dense["parts"]["attention"]),
                   "gathers": st["parts"].get("kept-key gathers", 0),
                   "cut": 1 - st["cycles"] / dense["cycles"]},
            "nonlinear_latency": t.nonlinear_latency}


def router_params(p, hash="xor"):
    """The DiscCore :func:`router` measures: ``p``'s engine, lanes, K/V store
    and router (``hash``), with buffers for one token row per list entry."""
    import dataclasses
    return dataclasses.replace(p, act_rows=256, wgt_rows=256, acc_rows=8, mask_rows=8,
                               dram_bytes=1 << 20, kv_hash=hash)


def _router_lists(p, layer, step, tokens):
    """The index lists of the real gathers: CTR's fresh tokens of every
    reuse step of the recorded run, and ST's kept keys of each head's row
    tiles of ``p.array_rows`` queries (the lists of ST's reuse step with
    every tile gathered), with the columns and base each gathers."""
    from exdisc.golden import trace
    from exdisc.sim.testbenches.core import trace_st_steps
    cfg = trace.model().cfg
    ctr = [t for t in trace.fresh_tokens().values() if 0 < len(t) < cfg.tokens]
    _, _, keep = trace_st_steps(p, tokens, layer, step)
    rows = p.array_rows
    st = [(np.flatnonzero(keep[:, h, u:u + rows].any(axis=(0, 1))), h)
          for h in range(cfg.heads) for u in range(0, tokens, rows)]
    return {"ctr": [(t, 0, cfg.hidden) for t in ctr],
            "st": [(t, h * cfg.head_dim, cfg.head_dim) for t, h in st if len(t)]}


def _router_program(p, lists, tokens, seed):
    """Every token's key row scattered into the K/V store, then each list's
    rows gathered (``(indices, base, cols)``) and stored: a compiled
    program (``program``, ``dram``, ``cfg``), one transfer at a time."""
    from types import SimpleNamespace
    from exdisc.golden.core_isa import Buffer, Op, encode
    from exdisc.golden import trace
    from exdisc.sim.stimulus.core import golden_config
    d = trace.model().cfg.hidden
    rng = np.random.default_rng(seed)
    dram = np.zeros(p.dram_bytes, np.uint8)
    dram[:tokens * d] = rng.integers(0, 256, tokens * d, dtype=np.uint8)
    at = tokens * d
    dram[at:at + 4 * tokens] = np.arange(tokens, dtype="<i4").view(np.uint8)
    prog = [encode(Op.LOAD, buffer=int(Buffer.WGT), rows=tokens, cols=d, stride=d),
            encode(Op.LOAD, buffer=int(Buffer.ACC), rows=1, cols=tokens, dram=at),
            encode(Op.KV_SCATTER, buffer=int(Buffer.WGT), rows=tokens, cols=d, stride=d,
                   limit=tokens)]
    at += 4 * tokens
    out = at + 4 * tokens * len(lists)
    for n, (index, base, cols) in enumerate(lists):
        dram[at:at + 4 * len(index)] = np.asarray(index, "<i4").view(np.uint8)
        row = 1 + n % 2
        prog += [encode(Op.LOAD, buffer=int(Buffer.ACC), row=row, rows=1, cols=len(index),
                        dram=at),
                 encode(Op.KV_GATHER, buffer=int(Buffer.ACT), col=(n % 2) * d, rows=len(index),
                        cols=cols, base=base, stride=d, idx_row=row, limit=tokens),
                 encode(Op.STORE, buffer=int(Buffer.ACT), col=(n % 2) * d, rows=len(index),
                        cols=cols, dram=out, stride=cols)]
        at += 4 * tokens
        out += len(index) * cols
    if out > p.dram_bytes:
        raise ValueError(f"dram_bytes: {p.dram_bytes} holds fewer than the {out} bytes of "
                         f"the router's lists and results")
    from exdisc.golden import core as gcore
    return SimpleNamespace(program=gcore.with_tokens(prog + [encode(Op.FINISH)]),
                           dram=dram[None], cfg=golden_config(p))


def router(p, layer=1, step=3, tokens=256, hashes=("xor", "modulo"), seed=0, log=None):
    """The hash bank router inside DiscCore on the real gathers
    (:func:`_router_lists`), per hash: each ``KV_GATHER`` on the RTL against
    the cycle model's conflict-free time. A gather's lanes issue for
    ``ideal`` cycles without conflicts (:func:`~exdisc.golden.core_cycles.kv_walk`);
    on the RTL for that less the model's other cycles. ``rate``: requests
    per lane per cycle over the lanes a group uses (``ideal / actual``,
    summed over the gathers: 1 when no lanes meet at a bank)."""
    from exdisc.common.progress import log as default_log
    from exdisc.golden.core_cycles import kv_walk
    from exdisc.golden.core_isa import Op, decode
    from .core import model_cycles, run_on_rtl, timing
    lists = _router_lists(p, layer, step, tokens)
    out = {}
    for hash in hashes:
        q = router_params(p, hash)
        t = timing(q)
        for kind, entries in lists.items():
            comp = _router_program(q, entries, tokens, seed)
            got = run_on_rtl("disc", q, comp, f"router_{kind}_{hash}", seed, log or default_log)
            model = model_cycles(comp, t)["schedule"]
            ideal = actual = requests = 0
            for word, (s, e), (*_, m_s, m_e) in zip(comp.program, got["times"], model):
                op, f = decode(int(word))
                if op != Op.KV_GATHER:
                    continue
                walk = kv_walk(f["rows"], f["cols"], q.banks)
                ideal += walk
                actual += (e - s) - (m_e - m_s - walk)
                requests += f["rows"] * f["cols"]
            out[f"{kind} {hash}"] = {
                "kind": kind, "hash": hash, "gathers": len(entries), "requests": requests,
                "ideal_cycles": ideal, "cycles": actual, "rate": ideal / actual,
                "rate_all_lanes": requests / (q.banks * actual), "seed": got["seed"]}
    return {"params": router_params(p).as_dict(), "lanes": p.banks, "banks": p.kv_banks,
            "layer": layer, "step": step, "tokens": tokens, "results": out}


def _theta(tokens):
    from exdisc.sim.testbenches.core import st_theta
    return st_theta(tokens)


def _schedules(sampling_steps):
    """The full steps of CTR and the generate steps of ST at their defaults
    (:class:`exdisc.golden.ctr.CachedTokenReuse`: the warm-up's and the
    refresh's; :class:`exdisc.golden.softmax_threshold.SoftmaxThreshold`:
    the warm-up's and every ``period``-th), and CTR's reuse ratio."""
    from exdisc.golden.ctr import CachedTokenReuse
    from exdisc.golden.softmax_threshold import SoftmaxThreshold
    ctr, st = CachedTokenReuse(), SoftmaxThreshold()
    full = set(range(int(round(ctr.warmup * sampling_steps)))) | \
        {int(f * sampling_steps) for f in ctr.refresh}
    generate = set(range(int(round(st.warmup * sampling_steps)))) | \
        set(range(0, sampling_steps, st.period))
    return len(full), len(generate), ctr.reuse


def sampling_run(p, record, sampling_steps=25, tokens=None, layers=None):
    """Every block (of ``layers``, default all) of sampling runs of
    ``sampling_steps`` under CTR's and ST's defaults: each layer's programs
    (full or generate step at ``record``'s step, reuse step at the next, on
    the measured block's tokens) in the cycle model, each kind scaled by the
    RTL's cycles over the model's on ``record``'s block; each run's cycles
    against an all-dense run, and its speedup."""
    from exdisc.golden import trace
    from .core import model_cycles, timing
    tokens = tokens or record["tokens"]
    full_steps, generate_steps, reuse = _schedules(sampling_steps)
    scale = {k: r["cycles"] / r["model"]["total"] for k, r in record["runs"].items()}
    t = timing(p)
    blocks = []
    for layer in range(trace.model().cfg.depth) if layers is None else layers:
        comps, keep = _programs(p, layer, record["step"], tokens,
                                record.get("st", {}).get("gather_below"))
        blocks.append({"layer": layer, "fresh": _fresh(comps["ctr reuse step"]),
                       "kept": float(keep.mean()), "union": _union(keep, p.array_rows),
                       **{k: model_cycles(c, t)["total"] * scale[k] for k, c in comps.items()}})
    dense = sum(sampling_steps * x["dense block"] for x in blocks)
    ctr = sum(full_steps * x["ctr full step"]
              + (sampling_steps - full_steps) * x["ctr reuse step"] for x in blocks)
    st = sum(generate_steps * x["st generate step"]
             + (sampling_steps - generate_steps) * x["st reuse step"] for x in blocks)
    return {"sampling_steps": sampling_steps, "full_steps": full_steps,
            "generate_steps": generate_steps, "reuse_ratio": reuse, "calibration": scale,
            "layers": blocks, "dense_cycles": dense, "cycles": ctr, "speedup": dense / ctr,
            "st_cycles": st, "st_speedup": dense / st}


def workload_quality():
    """CTR's and ST's quality costs at their defaults in the stored workload
    record (``exdisc workload``: the float algorithms against the dense
    run), or None when it is not there."""
    from .common import reference_record
    record = reference_record("workload")
    runs = {r["label"]: r for r in record["results"]} if record else {}
    if "ctr" not in runs or "st" not in runs:
        return None
    return {"accuracy": runs["ctr"]["accuracy"], "latent_error": runs["ctr"]["latent_error"],
            "st_accuracy": runs["st"]["accuracy"], "st_latent_error": runs["st"]["latent_error"],
            "dense_accuracy": record["dense"]["accuracy"],
            "samples": record["config"]["samples"], "steps": record["config"]["steps"]}


def tables(record):
    out = []
    r = record["steps"]
    p = r["params"]
    runs = r["runs"]
    ops = sorted({o for x in runs.values() for o in x["by_op"]},
                 key=lambda o: (-runs["dense block"]["by_op"].get(o, 0), o))
    out.append(Table(
        ["operation", *KINDS],
        [[o, *(runs[k]["by_op"].get(o, 0) for k in KINDS)] for o in ops] +
        [[f"part: {part}", *(runs[k]["parts"].get(part, 0) for k in KINDS)] for part in PARTS] +
        [["block (wall)", *(runs[k]["cycles"] for k in KINDS)],
         ["cycle model", *(runs[k]["model"]["total"] for k in KINDS)],
         ["engine busy", *(f"{runs[k]['engine_busy']:.3f}" for k in KINDS)],
         ["lost to port conflicts", *(sum(runs[k]["model"]["lost"].values()) for k in KINDS)]],
        title=f"CTR and ST on the RTL DiscCore, {p['array_rows']} x {p['array_cols']} engine, "
              f"{p['nl_lanes']} non-linear lanes: cycles (exdisc bench disc)",
        caption=f"layer {r['layer']}, steps {r['step']} (full, generate) and {r['step'] + 1} "
                f"(reuse) of the recorded run, {r['tokens']} tokens; CTR: {r['fresh']} fresh "
                f"(the float CTR's ranking of them, at its share of fresh tokens); ST at theta "
                f"{r['st']['theta']:.3g} (1e-3 scaled by 256 / tokens); the emitted Verilog on "
                f"Verilator, every outside stream always offered and ready, every byte of "
                f"external memory equal to the golden core model; cycles by operation and "
                f"part: each descriptor's "
                f"start to end, summed (queues overlap); the cycle model: "
                f"golden/core_cycles.py; lost: RTL less model, summed over descriptors."))
    a = r["against_fraction"]
    out.append(Table(
        ["part", "reuse step / (fresh fraction x dense)", "target"],
        [["row-wise", f"{a['row-wise']:.3f}", f"<= {1 + TARGETS['row_wise_excess']:.2f}"],
         ["attention", f"{a['attention']:.3f}", ""],
         ["block (wall), cut", f"{r['cut']:.1%}", ""]],
        title="CTR's reuse step's cycles against its fresh fraction of the dense block's "
              "(exdisc bench disc)",
        caption=f"fresh fraction {r['fresh_fraction']:.3f}; row-wise: LayerNorm, the QKV, "
                f"projection and FFN GEMMs, their requantization, GELU, the gated adds; "
                f"attention: scores, softmax, P V and its requantization (the fresh queries "
                f"over every token's keys); the engine works in tiles of "
                f"{p['array_rows']} rows and the compiler in chunks of 8, so a fresh count "
                f"that is not a multiple of them pays for the rest of its last tile."))
    st = r["st"]
    out.append(Table(
        ["figure", "value", "target"],
        [["kept fraction, per query", f"{st['kept']:.3f}", ""],
         [f"kept fraction, per row tile of {p['array_rows']} queries", f"{st['union']:.3f}", ""],
         ["attention / (per-query kept x dense)", f"{st['attention_against_kept']:.3f}",
          f"<= {1 + TARGETS['attention_excess']:.2f}"],
         ["attention / (per-tile kept x dense)", f"{st['attention_against_union']:.3f}", ""],
         [f"row tiles gathered (below {st['gather_below']} kept)",
          f"{st['tiles_gathered']} of {st['tiles']}", ""],
         ["kept-key gathers, cycles", st["gathers"], ""],
         ["block (wall), cut", f"{st['cut']:.1%}", ""]],
        title="ST's reuse step's attention against its kept fraction of the dense block's "
              "(exdisc bench disc)",
        caption="attention: the scores (an output-sparse GEMM of each row tile over the keys "
                "some query of it keeps, or of a whole head over every key where its tiles "
                "keep at least golden.core_compile.GATHER_BELOW of them), softmax, P V and its "
                "requantization; apart from it, the K/V store's fill and the gathers of "
                "the kept keys and values from it (the part 'kept-key gathers'); per row "
                "tile: what a dense engine computes, a row tile of queries over the union of "
                "their keys."))
    if "router" in record:
        rr = record["router"]
        out.append(Table(
            ["gathers", "hash", "lists", "requests", "cycles (no conflicts)", "cycles (RTL)",
             "requests / active lane / cycle", "requests / lane / cycle", "target"],
            [[x["kind"].upper(), x["hash"], x["gathers"], x["requests"], x["ideal_cycles"],
              x["cycles"], f"{x['rate']:.3f}", f"{x['rate_all_lanes']:.3f}",
              f">= {TARGETS['router_rate']}" if x["hash"] == "xor" else ""]
             for x in rr["results"].values()],
            title=f"The hash bank router inside DiscCore: {rr['lanes']} lanes, {rr['banks']} "
                  f"banks, on the real gathers (exdisc bench disc)",
            caption=f"KV_GATHER on the RTL from the K/V store (every token's key row scattered "
                    f"into it first), {rr['tokens']} tokens: CTR's fresh tokens of each reuse "
                    f"step of the recorded run (whole 64-byte rows), ST's kept keys of each "
                    f"head's row tiles of {rr['params']['array_rows']} queries at layer "
                    f"{rr['layer']}, step {rr['step']} (one head's 16 bytes of a row); "
                    f"cycles: the lanes' issue, the RTL's less the cycle model's other cycles "
                    f"(list check, fill); active lanes: a group's last rows leave lanes idle."))
    if "sampling_run" in record:
        s = record["sampling_run"]
        q = record.get("quality")
        out.append(Table(
            ["run", "cycles", "speedup", "class acc", "latent err"],
            [["all dense", f"{s['dense_cycles']:.0f}", "1.00",
              f"{q['dense_accuracy']:.3f}" if q else "", "0" if q else ""],
             ["CTR", f"{s['cycles']:.0f}", f"{s['speedup']:.3f}",
              f"{q['accuracy']:.3f}" if q else "", f"{q['latent_error']:.4f}" if q else ""],
             ["ST", f"{s['st_cycles']:.0f}", f"{s['st_speedup']:.3f}",
              f"{q['st_accuracy']:.3f}" if q else "",
              f"{q['st_latent_error']:.4f}" if q else ""]],
            title="Whole sampling runs on DiscCore with CTR and with ST, from the RTL-calibrated "
                  "cycle model (exdisc bench disc)",
            caption=f"{s['sampling_steps']} steps: CTR {s['full_steps']} full (its warm-up and "
                    f"refresh), ST {s['generate_steps']} generating masks (its warm-up and every "
                    f"5th); every block of the DiT at {r['tokens']} tokens, its reuse steps as "
                    f"measured at step {r['step'] + 1}, each kind scaled by RTL / model on the "
                    f"measured block; quality: "
                    + (f"the float runs of exdisc workload ({q['samples']} samples, "
                       f"{q['steps']} steps, CTR reuse {s['reuse_ratio']}, ST theta 1e-3 at "
                       f"256 tokens)" if q else "no workload record")))
    return out


def plot(record, path):
    """Cycles by part of the dense block and of CTR's and ST's steps on the RTL."""
    from .plots import grouped_bars
    r = record["steps"]
    runs = r["runs"]
    groups = list(PARTS) + ["block (wall)"]
    series = {k: [runs[k]["parts"].get(part, 0) for part in PARTS] + [runs[k]["cycles"]]
              for k in KINDS}
    p = r["params"]
    return grouped_bars(path, groups, series,
                        title=f"CTR and ST on DiscCore ({p['array_rows']} x {p['array_cols']}, "
                              f"{r['tokens']} tokens): cycles by part, RTL",
                        ylabel="cycles, start to end", xlabel="part of the block")


def failures(record):
    """Nothing is checked here: the target is reported (every byte of the
    RTL runs is checked against the golden core model as they run)."""
    return []
