"""The core: a DiT block's cycles on the RTL and in the cycle model, and the
DiT sampled with every block run by the golden core model.

:func:`rtl_cycles` compiles one block of the DiT (a recorded block input)
and runs it on the core's emitted Verilog: its cycles, each descriptor's,
and the engine's busy fraction, beside the cycle model of the same program
and the cycles the units lost to buffer port conflicts. :func:`cycles`
models the block's schedule on 16 x 16 cores with non-linear units of
several widths (:mod:`exdisc.golden.core_cycles`: the four queues under
their tokens, each descriptor timed as it runs alone). :func:`quality`
samples the tiny DiT densely in float and with every block of every step
compiled to a descriptor program and run by the golden core model
(:class:`exdisc.golden.core_dit.IntegerCore`: int8 GEMMs, the integer
non-linear operations, an int32 residual stream), from the same labels and
noise: class accuracy, latent error and the share of samples whose
classified digit changes. Beside it, on the same samples, the core's number
formats emulated in float (:class:`exdisc.golden.quant_points.QuantPoints`):
all of them, each alone, with a scale per token where the hardware has one
per tensor, and in bfloat16, to show where the error enters.
"""

import functools

from exdisc.golden import core_compile, core_cycles, trace
from exdisc.golden.core_dit import IntegerCore
from exdisc.golden.quant_points import PER_TOKEN, POINTS, QuantPoints
from exdisc.common.tables import Table
from .workload import paired

__all__ = ["TARGETS", "cycles", "rtl_cycles", "run_on_rtl", "by_operation", "model_cycles",
           "measure", "timing", "op_name", "quality", "tables", "plot", "failures"]

#: The issue's targets: the integer datapath's quality, the engine's share of a block.
TARGETS = {"digits_changed": 0.02, "engine_busy": 0.9}


def cycles(lanes=(4, 8, 16, 32), layer=0, step=3):
    """The cycle model's schedule of one block's program (one sequence) on a
    16 x 16 core, for non-linear units of each number of ``lanes`` (the
    buffers as wide as the unit, at least 16 banks; every unit's non-linear
    latency the 16-lane unit's)."""
    x, c = trace.block_input(step=step, layer=layer)
    comp = core_compile.compile_block(trace.model(), layer, x[:1], c[:1])
    rows = []
    for n in lanes:
        banks = max(16, n)
        est = core_cycles.estimate(comp.program, core_cycles.Timing(
            lanes=n, banks=banks, bus_bytes=4 * banks))
        est.pop("schedule")             # per descriptor: too long for the record
        rows.append(dict(est, lanes=n))
    return {"layer": layer, "step": step, "descriptors": len(comp.program), "rows": rows}


def timing(p):
    """The cycle model's :class:`~exdisc.golden.core_cycles.Timing` of a core
    of ``p``: its shape, and the non-linear latency measured on it (a short
    run in the Amaranth simulator)."""
    from exdisc.sim.testbenches.core_pysim import nonlinear_latency
    return core_cycles.Timing(rows=p.array_rows, cols=p.array_cols, lanes=p.nl_lanes,
                              banks=p.banks, bus_bytes=p.bus_bytes,
                              queue_depth=p.queue_depth, nonlinear_latency=nonlinear_latency(p))


def op_name(op, f):
    """A descriptor's operation as the benchmarks name it (a non-linear one by its function)."""
    from exdisc.golden.core_isa import Fn, Op
    return Fn(f["fn"]).name if op == Op.NONLINEAR else op.name


def run_on_rtl(unit, p, comp, name, seed=0, log=None):
    """A compiled program ``comp`` on the emitted Verilog of ``unit`` at
    ``p`` (``exdisc.sim.testbenches.core_bench``: every outside stream
    always offered and ready, every byte of external memory checked against
    the golden core model): ``cycles``, each descriptor's ``times`` (start,
    end) and the run's ``seed``; the files are ``name``'s in the unit's
    benchmark directory."""
    import json
    import numpy as np
    from exdisc.common.progress import log as default_log
    from exdisc.sim.harness.runner import run_unit
    from .common import bench_file
    words = np.array([list(int(w).to_bytes(16, "little")) for w in comp.program], np.uint8)
    given, out = bench_file(unit, p, f"{name}.npz"), bench_file(unit, p, f"{name}.json")
    np.savez(given, program=words, dram=comp.dram[0])
    run = run_unit(unit, p, "exdisc.sim.testbenches.core_bench", seed=seed,
                   log=log or default_log, run_name=name,
                   env={"EXDISC_BENCH_IN": str(given), "EXDISC_BENCH_OUT": str(out)})
    got = json.loads(out.read_text())
    # the run's cycles and the model's total are both its last descriptor's end
    last = max(end for _, end in got["times"])
    if got["cycles"] != last:
        raise AssertionError(f"{name}: the run took {got['cycles']} cycles, but its last "
                             f"descriptor ended at {last}")
    return dict(got, seed=run.seed)


def model_cycles(comp, t):
    """The cycle model of ``comp``'s program on a core of timing ``t``, with
    the masks the golden core model's run meets (what ``GEMM_IS`` skips)."""
    from exdisc.golden import core as gcore
    result = gcore.run(comp.program, comp.dram, comp.cfg)
    masks = {i: kept[0] for i, kept in result.masks.items()}
    return core_cycles.estimate(comp.program, t, masks)


def measure(unit, name, comp, p, t, what, key, seed=0, log=None):
    """``comp`` on the RTL of ``unit`` at ``p`` (:func:`run_on_rtl`) and in
    the cycle model (:func:`model_cycles`): cycles, by operation, and by
    what ``what(op, fields)`` names (as ``key``), the engine's beats and busy
    fraction, and per operation the cycles lost to port conflicts."""
    got = run_on_rtl(unit, p, comp, name.replace(" ", "_"), seed, log)
    model = model_cycles(comp, t)
    by_op, lost, parts, model_parts = by_operation(comp.program, got["times"], model["schedule"],
                                                   what)
    return {"cycles": got["cycles"], "seed": got["seed"], "descriptors": len(comp.program),
            "by_op": by_op, key: parts, "engine_beats": model["engine_beats"],
            "engine_busy": model["engine_beats"] / got["cycles"],
            "model": {"total": model["total"], "by_op": model["by_op"], key: model_parts,
                      "lost": lost}}


def by_operation(program, times, schedule, what=None):
    """Per operation, its descriptors' cycles start to end on the RTL
    (``times``), and those beyond the cycle model's (``schedule``, as
    :func:`exdisc.golden.core_cycles.estimate` gives it): ``(cycles, lost)``;
    with ``what(op, fields)``, the same per what it names (``None``: not
    counted) as ``(cycles, model cycles)`` too."""
    from exdisc.golden.core_isa import decode
    cycles, lost, parts, model = {}, {}, {}, {}
    for word, (start, end), (*_, m_start, m_end) in zip(program, times, schedule):
        op, f = decode(int(word))
        name = op_name(op, f)
        cycles[name] = cycles.get(name, 0) + end - start
        lost[name] = lost.get(name, 0) + (end - start) - (m_end - m_start)
        part = what(op, f) if what else None
        if part:
            parts[part] = parts.get(part, 0) + end - start
            model[part] = model.get(part, 0) + m_end - m_start
    return (cycles, lost) if what is None else (cycles, lost, parts, model)


def rtl_cycles(params=None, layer=0, step=3, tokens=None, seed=0, log=None):
    """One dense block of the DiT (a recorded block input, ``tokens`` of its
    tokens, default all) compiled for ``params`` and run by the core's
    emitted Verilog with every outside stream always offered and always
    ready: the cycles, each descriptor's start and end, the cycles by
    operation and the engine's busy fraction; every byte of external memory
    is checked against the golden core model. Beside it, the cycle model of
    the same program (:func:`exdisc.golden.core_cycles.estimate`), which
    times each descriptor as it runs alone: ``lost`` is, per operation, the
    cycles its descriptors took from start to end beyond the model's (waiting
    for buffer ports that another unit held), and ``exact`` the descriptors
    the model timed to the cycle, start and end."""
    from exdisc.golden.core_isa import QUEUE_OF, Op, decode
    from exdisc.hw.core.params import CoreParams
    from exdisc.sim.stimulus.core import golden_config
    p = params or CoreParams()
    x, c = trace.block_input(step=step, layer=layer)
    t = tokens or x.shape[1]
    comp = core_compile.compile_block(trace.model(), layer, x[:1, :t], c[:1], golden_config(p))
    got = run_on_rtl("core", p, comp, "bench", seed, log)
    model = core_cycles.estimate(comp.program, timing(p))
    by_op, lost = by_operation(comp.program, got["times"], model["schedule"])
    exact = sum(tuple(times) == (s, e) for times, (*_, s, e) in zip(got["times"],
                                                                    model["schedule"]))
    beats = model["engine_beats"]           # a GEMM's beats do not depend on its data
    return {"params": p.as_dict(), "layer": layer, "step": step, "tokens": t,
            "descriptors": len(comp.program), "seed": got["seed"], "cycles": got["cycles"],
            "engine_beats": beats, "engine_busy": beats / got["cycles"], "by_op": by_op,
            "queues_busy": {q.name.lower(): sum(e - s for w, (s, e) in zip(comp.program,
                                                                         got["times"])
                                                if QUEUE_OF[decode(int(w))[0]] == q)
                            for q in sorted({QUEUE_OF[o] for o in Op})},
            "model": {"total": model["total"], "engine_busy": model["engine_busy"],
                      "by_op": model["by_op"], "lost": lost, "exact": exact,
                      "nonlinear_latency": model["timing"]["nonlinear_latency"]}}


#: The emulated formats run beside the integer core: label, then QuantPoints' arguments.
EMULATED = [("every point, int8", {}),
            *[(f"{p} alone", {"points": (p,)}) for p in POINTS],
            (f"every point, {', '.join(PER_TOKEN)} per token", {"per_token": PER_TOKEN}),
            ("every point, bfloat16", {"fmt": "bfloat16"})]


def _runs(theta):
    return [("integer core", IntegerCore(theta=theta)),
            *[(label, QuantPoints(**kw)) for label, kw in EMULATED]]


def quality(*, per_class=20, steps=25, seed=0, theta=1e-3, jobs=1):
    """The integer core against the float run, paired sample by sample
    (batches of ten digits, :func:`.workload.paired`), and the emulated
    formats of :data:`EMULATED` on the same samples."""
    got = paired(functools.partial(_runs, theta), per_class=per_class, steps=steps, seed=seed,
                 jobs=jobs, what="every block on the golden core model, and its formats in float")
    r, *emulated = got["runs"]
    core = {k: sum(b["core"][k] for b in r["batches"]) for k in r["batches"][0]["core"]}
    return {"samples": len(got["labels"]), "steps": steps, "seed": seed, "theta": theta,
            "float_accuracy": got["float_accuracy"], "accuracy": r["accuracy"],
            "latent_error": r["latent_error"], "digits_changed": r["digits_changed"],
            "core": core, "calibration": "per block and step, on each batch of ten digits",
            "formats": [{"label": e["label"], **e["batches"][0]["params"],
                         **{k: e[k] for k in ("accuracy", "latent_error", "digits_changed")}}
                        for e in emulated]}


def tables(record):
    out = []
    if "cycles" in record:
        r = record["cycles"]
        out.append(Table(
            ["non-linear lanes", "cycles", "engine busy", "GEMM", "softmax", "other vector",
             "load", "store", "GEMM waits"],
            [[x["lanes"], x["total"], f"{x['engine_busy']:.3f}", x["by_op"]["GEMM"],
              x["by_op"]["SOFTMAX"], x["busy"]["vector"] - x["by_op"]["SOFTMAX"],
              x["by_op"]["LOAD"], x["by_op"]["STORE"], x["token_waits"].get("gemm", 0)]
             for x in r["rows"]],
            title="One dense DiT block on a 16 x 16 core: the cycle model (exdisc bench core)",
            caption=f"{r['descriptors']} descriptors; golden/core_cycles.py: the four queues "
                    f"under their tokens, each descriptor timed as it runs alone, so without "
                    f"the buffer port conflicts of descriptors that overlap (the RTL run is "
                    f"below); engine busy: the engine's beats over the block's cycles (target "
                    f"{TARGETS['engine_busy']})."))
    if "rtl" in record:
        r = record["rtl"]
        p = r["params"]
        m = r["model"]
        ops = sorted(set(r["by_op"]) | set(m["by_op"]),
                     key=lambda o: (-r["by_op"].get(o, 0), o))
        out.append(Table(
            ["operation", "RTL cycles", "model cycles", "lost to port conflicts"],
            [[o, r["by_op"].get(o, 0), m["by_op"].get(o, 0), m["lost"].get(o, 0)]
             for o in ops] +
            [["block (wall)", r["cycles"], m["total"], r["cycles"] - m["total"]],
             ["engine busy", f"{r['engine_busy']:.3f}", f"{m['engine_busy']:.3f}", ""]],
            title=f"One dense DiT block on the RTL core, {p['array_rows']} x {p['array_cols']} "
                  f"engine, {p['nl_lanes']} non-linear lanes (exdisc bench core)",
            caption=f"layer {r['layer']}, step {r['step']} of the recorded run, {r['tokens']} "
                    f"tokens, {r['descriptors']} descriptors; the emitted Verilog on "
                    f"Verilator with every outside stream always offered and ready, every "
                    f"byte of external memory equal to the golden core model; cycles by "
                    f"operation: the sum of each descriptor's start-to-end cycles (the queues "
                    f"overlap, so they add up to more than the block); engine busy: the "
                    f"engine's beats over the block's cycles (target {TARGETS['engine_busy']}); "
                    f"model: golden/core_cycles.py on the same program, each descriptor timed "
                    f"as it runs alone (exact for descriptors that do not overlap, "
                    f"tests/test_core.py; non-linear latency {m['nonlinear_latency']} cycles, "
                    f"measured); lost to port conflicts: RTL less model, the cycles the "
                    f"units waited for a buffer port another unit held; {m['exact']} of "
                    f"{r['descriptors']} descriptors start and end on the model's cycle."))
    if "quality" in record:
        q = record["quality"]
        out.append(Table(
            ["run", "class acc", "latent err", "digits changed"],
            [["float", f"{q['float_accuracy']:.3f}", "", ""],
             ["every block on the golden core model", f"{q['accuracy']:.3f}",
              f"{q['latent_error']:.4f}", f"{q['digits_changed']:.1%}"]],
            title="The integer datapath on the DiT (exdisc bench core)",
            caption=f"{q['samples']} samples, {q['steps']} steps, paired with the float run; "
                    f"int8 GEMMs, integer non-linear operations, int32 residual stream; scales "
                    f"{q['calibration']}; digits changed: samples whose classified digit "
                    f"differs from the float run's (target at most "
                    f"{TARGETS['digits_changed']:.0%})."))
        if "formats" in q:
            out.append(Table(
                ["the core's formats, emulated in float", "class acc", "latent err",
                 "digits changed"],
                [["every block on the golden core model", f"{q['accuracy']:.3f}",
                  f"{q['latent_error']:.4f}", f"{q['digits_changed']:.1%}"]] +
                [[f["label"], f"{f['accuracy']:.3f}", f"{f['latent_error']:.4f}",
                  f"{f['digits_changed']:.1%}"] for f in q["formats"]],
                title="Where the integer datapath's error enters (exdisc bench core)",
                caption=f"the same {q['samples']} samples; golden/quant_points.py: the block in "
                        f"float with the tensors the core holds in int8 (or its probabilities' "
                        f"width) rounded to their formats, scales per tensor on the batch as "
                        f"the compiler's; h1, h2: the LayerNorm outputs, qkv: q, k and v, p: "
                        f"the probabilities, o: attention's output, g: GELU's output, w_*: "
                        f"the weights; per token: one scale per token for those activations, "
                        f"which the core does not have; bfloat16: every point in bfloat16."))
    return out


def plot(record, path):
    """Cycles by operation of the RTL run beside the cycle model (without an
    RTL run: the model for each width of the non-linear unit), and the
    block's wall-clock cycles."""
    from .plots import grouped_bars
    if "rtl" in record:
        r = record["rtl"]
        ops = sorted(set(r["by_op"]) | set(r["model"]["by_op"]),
                     key=lambda o: (-r["by_op"].get(o, 0), o))
        series = {"RTL": [r["by_op"].get(o, 0) for o in ops] + [r["cycles"]],
                  "cycle model": [r["model"]["by_op"].get(o, 0) for o in ops]
                  + [r["model"]["total"]]}
        p = r["params"]
        title = (f"One dense DiT block on the core ({p['array_rows']} x {p['array_cols']}, "
                 f"{p['nl_lanes']} non-linear lanes, {r['tokens']} tokens): engine busy "
                 f"{r['engine_busy']:.2f}")
    else:
        rows = record["cycles"]["rows"]
        ops = sorted(rows[0]["by_op"], key=lambda o: (-rows[0]["by_op"][o], o))
        series = {f"model, {x['lanes']} lanes": [x["by_op"][o] for o in ops] + [x["total"]]
                  for x in rows}
        title = "One dense DiT block on a 16 x 16 core: the cycle model"
    return grouped_bars(path, ops + ["block (wall)"], series, title=title,
                        ylabel="cycles, start to end",
                        xlabel="operation")


def failures(record):
    """Nothing is checked here: the targets are reported (the golden core
    model is checked word by word in the tests)."""
    return []
