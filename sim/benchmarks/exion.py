"""ExionCore: FFN-Reuse's two kinds of step of a DiT block on the RTL,
attention under eager prediction's masks, and EXION's steps (both), against
the dense block on the same core, and whole sampling runs' cycles from the
cycle model calibrated by those runs.

:func:`steps` compiles one block of the recorded run (``tokens`` of its
tokens) six ways for an ExionCore (:data:`KINDS`): the dense block,
FFN-Reuse's dense step (FC1's mask at the quantile policy's threshold, the
cached partial) and the sparse step of the next sampling step on that mask
and partial; the dense block with its attention under eager prediction's
masks; and FFN-Reuse's two steps with that attention (EXION's). Each
runs on the core's emitted Verilog with every outside stream always offered
and ready, every byte of external memory checked against the golden core
model, beside the cycle model of the same program
(:func:`exdisc.golden.core_cycles.estimate`, given the masks each
``GEMM_IS`` meets). :func:`sampling_run` models the programs of every
block of the DiT, scales each kind by the RTL's cycles over the model's on
the measured block, and weighs them by the policy's dense and sparse steps.

Eager prediction's masks come from the host (:func:`exdisc.golden.core_compile.eager_masks`):
the predictor's RTL is verified on its own but is not in the core yet.
"""

from exdisc.common.tables import Table

__all__ = ["TARGETS", "KINDS", "steps", "sampling_run", "tables", "plot", "failures"]

#: The block's programs, by name: FFN-Reuse's, eager prediction's, EXION's (both).
KINDS = ("dense block", "reuse dense step", "reuse sparse step", "eager block",
         "exion dense step", "exion sparse step")
#: The issue's targets: FC1's and FC2's cycle cuts on the sparse step within
#: 10 % of the engine's own (``exdisc bench ffn`` at D = 4, read from its record);
#: attention's cut at least 0.8 of the share of scores eager prediction skips.
TARGETS = {"cut_share": 0.9, "ffn_lanes": 4, "attention_share": 0.8}
#: Eager prediction's threshold (logits below each row's predicted maximum)
#: for a block of 16 tokens: the predictor's default, 4, keeps almost every
#: key of so few (docs/core.md, "Eager prediction's attention on ExionCore").
EAGER_THETA = 1.0


def _programs(p, layer, step, tokens, sparsity, eager_theta=EAGER_THETA):
    """The block's programs (:data:`KINDS`), FFN-Reuse's mask and eager
    prediction's masks of the eager block."""
    from exdisc.golden.eager import EagerPrediction
    from exdisc.sim.testbenches.core import reuse_threshold, trace_block, trace_reuse_steps
    mask = reuse_threshold(p, sparsity, tokens, layer, step)
    dense, sparse = trace_reuse_steps(p, tokens, layer, step, threshold=mask["threshold"])
    predictor = EagerPrediction(theta=eager_theta)
    eager = trace_block(p, tokens, layer, step, eager=predictor)
    e_dense, e_sparse = trace_reuse_steps(p, tokens, layer, step, threshold=mask["threshold"],
                                          eager=predictor)
    comps = (trace_block(p, tokens, layer, step), dense, sparse, eager, e_dense, e_sparse)
    return dict(zip(KINDS, comps)), mask, _keep(eager, eager_theta)


def _keep(comp, theta):
    """Eager prediction's masks in an eager block's program, as the core
    reads them: the kept share of the scores (``GEMM_OS``'s outputs) and of
    ``P V``'s reduction steps that some query of a row tile needs."""
    from exdisc.golden import core as gcore
    from exdisc.golden.core_isa import Op, decode
    r = gcore.run(comp.program, comp.dram, comp.cfg)
    kept = [m for i, m in r.masks.items() if decode(int(comp.program[i]))[0] == Op.GEMM_OS]
    R = comp.cfg.array_rows
    union = [m[:, u:u + R].any(axis=(0, 1)).mean() for m in kept for u in range(0, m.shape[1], R)]
    return {"theta": theta, "kept": float(sum(m.sum() for m in kept) / sum(m.size for m in kept)),
            "union": float(sum(union) / len(union))}


def _part(op, f, dims):
    """Which part of the block a descriptor is:
    ``fc1``, ``fc2`` (on FFN-Reuse's dense steps, its two parts: the
    cached partial and the masked inputs' part), ``attention`` (its GEMMs,
    the softmax and ``P V``'s requantization), or ``None``."""
    from exdisc.golden.core_isa import Fn, Op
    d, ffn = dims
    if op == Op.NONLINEAR:
        return "attention" if f["fn"] == Fn.SOFTMAX or f["row_scale"] else None
    if op not in (Op.GEMM, Op.GEMM_OS, Op.GEMM_IS):
        return None
    if (f["n"], f["k"]) == (ffn, d):
        return "fc1"
    if (f["n"], f["k"]) == (d, ffn):
        return "fc2"
    if (f["n"], f["k"]) in ((3 * d, d), (d, d)):
        return None
    return "attention"


def _measure(name, comp, p, timing, dims, seed, log):
    from .core import measure
    return measure("exion", name, comp, p, timing, lambda op, f: _part(op, f, dims),
                   "parts", seed, log)


def _dims():
    from exdisc.golden import trace
    cfg = trace.model().cfg
    return cfg.hidden, cfg.ffn_dim


def steps(p, layer=1, step=3, tokens=16, sparsity=0.9, seed=0, log=None,
          eager_theta=EAGER_THETA):
    """The block's programs (:data:`KINDS`) on ExionCore ``p``'s emitted
    Verilog and in the cycle model: cycles, cycles by operation and by part
    (``fc1``, ``fc2``, ``attention``), the
    engine's beats and busy fraction, and per operation the cycles lost to
    buffer port conflicts (RTL less model); FC1's sparsity at the quantile
    policy's threshold (``sparsity``) and at 0, GELU's sign; eager
    prediction's kept share of the scores at ``eager_theta``, and the eager
    block's attention cycles against the dense block's."""
    from exdisc.common.progress import log as default_log
    from .core import timing
    comps, mask, keep = _programs(p, layer, step, tokens, sparsity, eager_theta)
    t, dims = timing(p), _dims()
    runs = {name: _measure(name, comp, p, t, dims, seed, log or default_log)
            for name, comp in comps.items()}
    dense, sparse = runs["dense block"], runs["reuse sparse step"]
    cuts = {part: 1 - sparse["parts"][part] / dense["parts"][part] for part in ("fc1", "fc2")}
    cuts["block"] = 1 - sparse["cycles"] / dense["cycles"]
    eager = runs["eager block"]
    keep.update(cut=1 - eager["parts"]["attention"] / dense["parts"]["attention"],
                block_cut=1 - eager["cycles"] / dense["cycles"],
                exion_cut=1 - runs["exion sparse step"]["cycles"] / dense["cycles"])
    return {"params": p.as_dict(), "layer": layer, "step": step, "tokens": tokens,
            "sparsity_policy": sparsity, "mask": mask, "eager": keep, "runs": runs,
            "cuts": cuts, "nonlinear_latency": t.nonlinear_latency}


def sampling_run(p, record, sampling_steps=25, period=5, warmup=2, tokens=16, layers=None):
    """Every block (of ``layers``, default all) of a sampling run of
    ``sampling_steps`` under FFN-Reuse's policy (a dense step every
    ``period`` steps and the first ``warmup``): each layer's programs
    (:data:`KINDS`: dense steps at step 3, sparse at step 4 of the recorded
    run, ``tokens`` tokens) in the cycle model, each kind scaled by the
    RTL's cycles over the model's on ``record``'s block; the cycles of
    FFN-Reuse's run, of eager prediction on every step and of EXION's (both)
    against an all-dense run, and their speedups."""
    from exdisc.golden import trace
    from exdisc.golden.ffn_reuse import FFNReuse
    from .core import model_cycles, timing
    policy = FFNReuse(period=period, warmup=warmup, sparsity=record["sparsity_policy"])
    dense_steps = sum(policy.is_dense_step(s) for s in range(sampling_steps))
    scale = {k: r["cycles"] / r["model"]["total"] for k, r in record["runs"].items()}
    t = timing(p)
    blocks = []
    for layer in range(trace.model().cfg.depth) if layers is None else layers:
        comps, mask, keep = _programs(p, layer, record["step"], tokens,
                                      record["sparsity_policy"],
                                      record.get("eager", {}).get("theta", EAGER_THETA))
        blocks.append({"layer": layer, "mask": mask, "eager": keep,
                       **{k: model_cycles(c, t)["total"] * scale[k] for k, c in comps.items()}})

    def run(prefix):
        return sum(dense_steps * x[f"{prefix} dense step"]
                   + (sampling_steps - dense_steps) * x[f"{prefix} sparse step"] for x in blocks)
    reuse, exion = run("reuse"), run("exion")
    dense = sum(sampling_steps * x["dense block"] for x in blocks)
    eager = sum(sampling_steps * x["eager block"] for x in blocks)
    return {"sampling_steps": sampling_steps, "period": period, "warmup": warmup,
            "dense_steps": dense_steps, "calibration": scale, "layers": blocks,
            "cycles": reuse, "dense_cycles": dense, "speedup": dense / reuse,
            "eager_cycles": eager, "eager_speedup": dense / eager,
            "exion_cycles": exion, "exion_speedup": dense / exion}


def workload_quality():
    """FFN-Reuse's quality cost at the same policy in the stored workload
    record (``exdisc workload``: the float algorithm against the dense run),
    and eager prediction's at its default settings (``eager``, None if not
    there); None when there is no FFN-Reuse run."""
    from .common import reference_record
    record = reference_record("workload")
    runs = {r["label"]: r for r in record["results"]} if record else {}
    if "ffn_reuse" not in runs:
        return None
    r, e = runs["ffn_reuse"], runs.get("eager k2")
    return {"accuracy": r["accuracy"], "dense_accuracy": record["dense"]["accuracy"],
            "latent_error": r["latent_error"], "fc1_sparsity": r["fc1_sparsity"],
            "samples": record["config"]["samples"], "steps": record["config"]["steps"],
            "eager": e and {"accuracy": e["accuracy"], "latent_error": e["latent_error"],
                            "attention_sparsity": e["attention_sparsity"]}}


def engine_cuts():
    """FC1's and FC2's cycle cuts of the engine alone at D = 4 merge lanes,
    from the stored ``exdisc bench ffn`` record (None without one)."""
    from .common import reference_record
    record = reference_record("ffn")
    arrays = [a for a in record["arrays"]
              if a["params"]["lanes"] == TARGETS["ffn_lanes"]] if record else []
    if not arrays:
        return None
    runs = arrays[0]["runs"]
    return {"fc1": runs["fc1_sparse"]["cycles_cut"], "fc2": runs["fc2_sparse"]["cycles_cut"],
            "lanes": TARGETS["ffn_lanes"], "rows": arrays[0]["params"]["rows"],
            "cols": arrays[0]["params"]["cols"], "tokens": arrays[0]["tokens"]}


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
        [[f"FFN {part}", *(runs[k]["parts"].get(part, 0) for k in KINDS)]
         for part in ("fc1", "fc2")] +
        [["attention", *(runs[k]["parts"].get("attention", 0) for k in KINDS)]] +
        [["block (wall)", *(runs[k]["cycles"] for k in KINDS)],
         ["cycle model", *(runs[k]["model"]["total"] for k in KINDS)],
         ["engine busy", *(f"{runs[k]['engine_busy']:.3f}" for k in KINDS)],
         ["lost to port conflicts", *(sum(runs[k]["model"]["lost"].values()) for k in KINDS)]],
        title=f"FFN-Reuse and eager prediction on the RTL ExionCore, "
              f"{p['array_rows']} x {p['array_cols']} engine, "
              f"{p['nl_lanes']} non-linear lanes: cycles (exdisc bench exion)",
        caption=f"layer {r['layer']}, steps {r['step']} (dense) and {r['step'] + 1} (sparse) "
                f"of the recorded run, {r['tokens']} tokens; FC1 sparsity "
                f"{r['mask']['fc1_sparsity']:.3f} at the quantile policy's threshold "
                f"({r['sparsity_policy']}), {r['mask']['fc1_sparsity_tau0']:.3f} at tau = 0 "
                f"(GELU's sign); eager prediction at theta {r['eager']['theta']:g} keeps "
                f"{r['eager']['kept']:.3f} of the scores; the emitted Verilog on Verilator, "
                f"every outside stream always "
                f"offered and ready, every byte of external memory equal to the golden core "
                f"model; cycles by operation: each descriptor's start to end, summed (queues "
                f"overlap); the cycle model: golden/core_cycles.py with the masks each "
                f"GEMM_IS meets; lost: RTL less model, summed over descriptors."))
    cuts = r["cuts"]
    eng = record.get("engine")
    out.append(Table(
        ["part", "sparse step's cut", "engine alone (bench ffn)", "target"],
        [[part, f"{cuts[part]:.1%}", f"{eng[part]:.1%}" if eng else "no record",
          f"{TARGETS['cut_share'] * eng[part]:.1%}" if eng else ""] for part in ("fc1", "fc2")]
        + [["block", f"{cuts['block']:.1%}", "", ""]],
        title="The sparse step's cycle cuts against the dense block (exdisc bench exion)",
        caption="cut: 1 - sparse step's cycles / dense block's, on the RTL; engine alone: "
                + (f"exdisc bench ffn at D = {eng['lanes']} merge lanes, {eng['rows']} x "
                   f"{eng['cols']}, {eng['tokens']} tokens" if eng else "")
                + f"; target: at least {TARGETS['cut_share']:.0%} of the engine's cut."))
    e = r["eager"]
    out.append(Table(
        ["theta", "scores kept", "row tiles' union", "attention cut", "target",
         "eager block cut", "EXION sparse step cut"],
        [[f"{e['theta']:g}", f"{e['kept']:.3f}", f"{e['union']:.3f}", f"{e['cut']:.1%}",
          f"{TARGETS['attention_share'] * (1 - e['kept']):.1%}", f"{e['block_cut']:.1%}",
          f"{e['exion_cut']:.1%}"]],
        title="Attention under eager prediction's masks against the dense block "
              "(exdisc bench exion)",
        caption=f"the masks from the host (golden.core_compile.eager_masks: the predictor's "
                f"RTL is not in the core yet); scores output-sparse (GEMM_OS writes only the "
                f"kept ones, but computes every tile); P V dense (an input-sparse one could "
                f"skip only the keys no query of a {p['array_rows']}-row tile keeps: the union); "
                f"attention: its GEMMs, softmax and requantization, start to end, summed; "
                f"target: a cut of at least {TARGETS['attention_share']:g} x the share of "
                f"scores skipped."))
    if "sampling_run" in record:
        s = record["sampling_run"]
        q = record.get("quality")
        qe = (q or {}).get("eager")
        out.append(Table(
            ["run", "cycles", "speedup", "class acc", "latent err"],
            [["all dense", f"{s['dense_cycles']:.0f}", "1.00",
              f"{q['dense_accuracy']:.3f}" if q else "", "0" if q else ""],
             ["FFN-Reuse", f"{s['cycles']:.0f}", f"{s['speedup']:.3f}",
              f"{q['accuracy']:.3f}" if q else "", f"{q['latent_error']:.4f}" if q else ""],
             ["eager prediction", f"{s['eager_cycles']:.0f}", f"{s['eager_speedup']:.3f}",
              *((f"{qe['accuracy']:.3f}*", f"{qe['latent_error']:.4f}*") if qe else ("", ""))],
             ["EXION (both)", f"{s['exion_cycles']:.0f}", f"{s['exion_speedup']:.3f}", "", ""]],
            title="A whole sampling run on ExionCore, from the RTL-calibrated cycle model "
                  "(exdisc bench exion)",
            caption=f"{s['sampling_steps']} steps, {s['dense_steps']} dense (every "
                    f"{s['period']}th and the first {s['warmup']}); every block of the DiT "
                    f"at {r['tokens']} tokens, each kind scaled by RTL / model on the measured "
                    f"block; eager prediction at theta {r['eager']['theta']:g} on every step "
                    f"(* its quality is exdisc workload's at the predictor's default theta, 4, "
                    f"on 256 tokens"
                    + (f", where it skips {qe['attention_sparsity']:.3f} of the scores" if qe
                       else "")
                    + "; EXION's two mechanisms together have no quality run); quality: "
                    + (f"the float FFN-Reuse run of exdisc workload ({q['samples']} samples, "
                       f"{q['steps']} steps, FC1 sparsity {q['fc1_sparsity']:.3f})" if q
                       else "no workload record")))
        out.append(Table(
            ["layer", "FC1 sparsity", "columns kept", "tiles kept", *KINDS],
            [[x["layer"], f"{x['mask']['fc1_sparsity']:.3f}",
              f"{x['mask']['columns_kept']:.3f}", f"{x['mask']['tiles_kept']:.3f}",
              *(f"{x[k]:.0f}" for k in KINDS)] for x in s["layers"]],
            title="FFN-Reuse's FC1 mask and each block's calibrated cycles, by layer "
                  "(exdisc bench exion)",
            caption=f"step {r['step']} of the recorded run, {r['tokens']} tokens; columns "
                    f"kept: the share of (row tile, column) pairs of the "
                    f"{p['array_rows']}-row tiles with a set bit, which bounds what "
                    f"condensing FC1's columns keeps; tiles kept: the share of "
                    f"{p['array_rows']} x {p['array_cols']} tiles with a set bit, which "
                    f"bounds what skipping tiles keeps; cycles: the cycle model scaled by "
                    f"RTL / model on the measured block."))
    return out


def plot(record, path):
    """Cycles by operation of the dense block and of both FFN-Reuse steps on the RTL."""
    from .plots import grouped_bars
    r = record["steps"]
    runs = r["runs"]
    ops = sorted({o for x in runs.values() for o in x["by_op"]},
                 key=lambda o: (-runs["dense block"]["by_op"].get(o, 0), o))
    parts = ("fc1", "fc2", "attention")
    groups = ops + [f"part: {x}" for x in parts] + ["block (wall)"]
    series = {k: [runs[k]["by_op"].get(o, 0) for o in ops]
              + [runs[k]["parts"].get(x, 0) for x in parts] + [runs[k]["cycles"]]
              for k in KINDS}
    p = r["params"]
    return grouped_bars(path, groups, series,
                        title=f"FFN-Reuse and eager prediction on ExionCore "
                              f"({p['array_rows']} x {p['array_cols']}, "
                              f"{r['tokens']} tokens): cycles by operation, RTL",
                        ylabel="cycles, start to end", xlabel="operation")


def failures(record):
    """Nothing is checked here: the targets are reported (every byte of the
    RTL runs is checked against the golden core model as they run)."""
    return []
