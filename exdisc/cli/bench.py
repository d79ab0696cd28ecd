"""``exdisc bench <name>`` and ``exdisc workload``: measure, record, print.

Each benchmark is a subcommand with its own options; the measuring lives in
:mod:`exdisc.sim.benchmarks` (and :mod:`exdisc.synth.area`). The record is
written to ``<build>/bench/<name>.json`` (or ``--out``), its figure beside
it, and with ``--update`` also to the committed reference results in
``docs/results/``. Standard output gets the tables, or with ``--json`` the
record as one JSON document and nothing else.
"""

import argparse
import json
import pathlib
import shutil

from exdisc.common.progress import log
from exdisc.common.workdir import build_dir, reference_dir, save_record
from .options import (EXIT_CHECK_FAILED, EXIT_OK, Parser, UsageError, add_result_options,
                      int_list, int_list_of, positive_int, sizes)


__all__ = ["add_commands", "finish"]


def out_dir(args, default="bench"):
    """Where the command writes: ``--out``, or ``<build>/<default>``."""
    return pathlib.Path(args.out) if args.out else build_dir(default)


def finish(args, name, record, tables, failures=(), plot=None, extra=(), default_out="bench"):
    """Save ``record`` as ``name`` (and its figure, drawn by ``plot(record,
    path)``), store it as the reference with ``--update``, print the tables
    or the JSON document; exit status 1 when ``failures`` lists any.
    ``extra``: more files the run wrote (kept out of the reference)."""
    out = out_dir(args, default_out)
    path = save_record(out, name, record)
    figures = []
    if plot is not None:
        from exdisc.sim.benchmarks import plots
        if plots.available():
            figures.append(plot(record, out / f"{name}.png"))
        else:
            log("[bench] matplotlib is not installed (pip install exdisc[plot]): no figure")
    if args.update:
        ref = reference_dir(required=True)
        for source in [path, *figures]:
            shutil.copyfile(source, ref / pathlib.Path(source).name)
        log(f"[bench] reference results updated in {ref}: "
            + ", ".join(pathlib.Path(f).name for f in [path, *figures]))
    if args.json:
        print(json.dumps(record, indent=2, sort_keys=True))
    else:
        print("\n\n".join(t.text() for t in tables))
    log(f"[bench] record: {path}" + "".join(f"; figure: {f}" for f in [*figures, *extra]))
    for problem in failures:
        log(f"[bench] CHECK FAILED: {problem}")
    return EXIT_CHECK_FAILED if failures else EXIT_OK


# --- one function per benchmark -----------------------------------------------

def bench_systolic(args):
    from exdisc.sim.benchmarks import systolic
    record = systolic.run(args.sizes, args.ks, grid=args.grid, seed=args.seed)
    return finish(args, "systolic", record, systolic.tables(record), systolic.failures(record))


def bench_ffn(args):
    from exdisc.sim.benchmarks import ffn
    record = ffn.run(args.sizes, args.merge_lanes, seed=args.seed)
    return finish(args, "ffn", record, ffn.tables(record), ffn.failures(record), ffn.plot)


def bench_ctr(args):
    from exdisc.sim.benchmarks import ctr_select
    record = ctr_select.run(seeds=args.seeds, steps=args.steps, seed=args.seed,
                            per_class=args.per_class)
    return finish(args, "ctr", record, ctr_select.tables(record), ctr_select.failures(record))


def bench_conmerge(args):
    from exdisc.sim.benchmarks import conmerge
    (rows, cols), = args.array
    record = conmerge.run(rows=rows, cols=cols, seed=args.seed)
    return finish(args, "conmerge", record, conmerge.tables(record), plot=conmerge.plot)


def bench_router(args):
    from exdisc.sim.benchmarks import router
    record = router.run(args.lanes, per_lane=args.per_lane, word_bits=args.word_bits,
                        seed=args.seed)
    return finish(args, router.record_name(record), record, router.tables(record),
                  plot=router.plot)


def bench_eager(args):
    from exdisc.sim.benchmarks import eager
    from exdisc.synth import area
    record, tables = {}, []
    if not args.no_quality:
        record["quality"] = eager.quality(seed=args.seed)
        tables += eager.tables(record["quality"])
    if not args.no_area:
        record["area"] = area.eager_area(args.lanes)
        tables += area.tables(record["area"])
    return finish(args, "eager", record, tables)


def _keep_stored_parts(args, name, record, parts):
    """With ``--update``, the parts of a record that this run skipped are
    taken from the stored reference, so that it stays whole (each part is
    a measurement of its own: the rate, or the DiT runs)."""
    if not args.update:
        return record
    stored = reference_dir(required=True) / f"{name}.json"
    if stored.exists():
        old = json.loads(stored.read_text())
        for part in parts:
            if part not in record and part in old:
                record[part] = old[part]
                log(f"[bench] {name}: the stored {part!r} kept (not measured in this run)")
    return record


def bench_nonlinear(args):
    from exdisc.hw.nonlinear import NonLinearParams
    from exdisc.sim.benchmarks import nonlinear
    record = {}
    if not args.no_rate:
        record["rates"] = nonlinear.rates(NonLinearParams(lanes=args.lanes), seed=args.seed)
    if not args.no_quality:
        record["quality"] = nonlinear.quality(per_class=args.per_class, steps=args.steps,
                                              seed=args.seed, jobs=args.jobs)
    record = _keep_stored_parts(args, "nonlinear", record, ("rates", "quality"))
    return finish(args, "nonlinear", record, nonlinear.tables(record), nonlinear.failures(record))


def cmd_workload(args):
    from exdisc.golden.workload import DEFAULTS
    from exdisc.sim.benchmarks import workload
    if args.update and args.only:
        raise UsageError(f"{args.prog_name}: --update stores whole suites only; drop --only")
    try:
        runs = workload.suite(args.suite, args.only)
    except ValueError as e:
        raise UsageError(f"{args.prog_name}: option --only: {e}") from None
    record = workload.run(runs, per_class=args.per_class, steps=args.steps,
                          guidance=args.guidance, seed=args.seed,
                          grids=out_dir(args, "workload") / "grids")
    name = {"default": "workload"}.get(args.suite, f"workload_{args.suite}")
    if args.seed != DEFAULTS["seed"]:
        name += f"_seed{args.seed}"
    if args.only:
        name += "_" + "_".join("".join(c if c.isalnum() else "_" for c in o) for o in args.only)
    return finish(args, name, record, workload.tables(record), extra=record.get("grids", []),
                  default_out="workload")


# --- the parser ----------------------------------------------------------------

def _steps(text):
    value = positive_int(text)
    if value > 1000:
        raise argparse.ArgumentTypeError(f"expected at most 1000 steps, not {text!r}")
    return value


def _share(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of at least 0, not {text!r}") \
            from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of at least 0, not {text!r}")
    return value


def _tokens(text):
    value = positive_int(text)
    if not 16 <= value <= 256:
        raise argparse.ArgumentTypeError(f"expected 16 to 256 tokens, not {text!r}")
    return value


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), not {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), not {text!r}")
    return value


def bench_core(args):
    from exdisc.hw.core.params import CoreParams
    from exdisc.sim.benchmarks import core
    record = {"cycles": core.cycles()}
    if not args.no_rtl:
        record["rtl"] = core.rtl_cycles(
            CoreParams(array_rows=args.rows, array_cols=args.cols, nl_lanes=args.lanes),
            layer=args.layer, tokens=args.tokens, seed=args.seed)
    if not args.no_quality:
        record["quality"] = core.quality(per_class=args.per_class, steps=args.steps,
                                         seed=args.seed, jobs=args.jobs)
    record = _keep_stored_parts(args, "core", record, ("rtl", "quality"))
    return finish(args, "core", record, core.tables(record), core.failures(record),
                  plot=core.plot)


def bench_exion(args):
    from exdisc.hw.presets import get_preset
    from exdisc.sim.benchmarks import exion
    (_, p), = get_preset("exion")
    record = {"steps": exion.steps(p, layer=args.layer, tokens=args.tokens,
                                   sparsity=args.sparsity, seed=args.seed,
                                   eager_theta=exion.EAGER_THETA if args.eager_theta is None
                                   else args.eager_theta)}
    record["sampling_run"] = exion.sampling_run(p, record["steps"],
                                                sampling_steps=args.sampling_steps,
                                                tokens=args.tokens)
    record["engine"] = exion.engine_cuts()
    record["quality"] = exion.workload_quality()
    return finish(args, "exion", record, exion.tables(record), exion.failures(record),
                  plot=exion.plot)


def bench_disc(args):
    from exdisc.sim.benchmarks import disc
    p = disc.params_for(args.tokens, rows=args.rows, cols=args.cols, lanes=args.lanes,
                        kv_banks=args.kv_banks)
    record = {"steps": disc.steps(p, layer=args.layer, tokens=args.tokens, seed=args.seed,
                                  gather_below=args.gather_below)}
    record["sampling_run"] = disc.sampling_run(p, record["steps"],
                                               sampling_steps=args.sampling_steps)
    record["router"] = disc.router(p, layer=args.layer, tokens=args.tokens, seed=args.seed)
    record["quality"] = disc.workload_quality()
    return finish(args, "disc", record, disc.tables(record), disc.failures(record),
                  plot=disc.plot)


def add_commands(sub):
    from exdisc.golden.workload import DEFAULTS
    from exdisc.sim.benchmarks.router import WORD_CHOICES
    from exdisc.sim.benchmarks.workload import SUITES

    p = sub.add_parser("bench", help="measure the RTL on real workloads (records in <build>/bench)",
                       description="Benchmarks: each measures the emitted RTL (or the golden "
                                   "models) and records what it measured.")
    benches = p.add_subparsers(dest="bench", metavar="NAME", required=True, parser_class=Parser)

    def bench(name, help, func, default_seed=None):
        q = benches.add_parser(name, help=help, description=help)
        q.add_argument("--seed", type=int, default=default_seed,
                       help="random seed" + ("" if default_seed is not None else
                                             " (default: $EXDISC_SEED or fresh, printed)"))
        add_result_options(q, "bench")
        q.set_defaults(func=func, prog_name=q.prog)
        return q

    q = bench("systolic", "systolic array: cycles and busy fraction of back-to-back tiles, RTL "
              "against the cycle model", bench_systolic)
    q.add_argument("--sizes", type=sizes, default=sizes("4x4,8x8,16x16"), metavar="RxC,...",
                   help="array sizes (default: 4x4,8x8,16x16)")
    q.add_argument("--ks", type=int_list, default=[8, 16, 32, 64, 128], metavar="K,...",
                   help="tile depths (default: 8,16,32,64,128)")
    q.add_argument("--grid", type=positive_int, default=4, metavar="N",
                   help="tiles per GEMM: N x N")

    q = bench("ffn", "a sparse FFN-Reuse step of the DiT on engines with merge lanes: cycles, "
              "dense against sparse", bench_ffn)
    q.add_argument("--sizes", type=sizes, default=sizes("16x16"), metavar="RxC,...",
                   help="array sizes (default: 16x16)")
    q.add_argument("--merge-lanes", type=int_list_of((1, 2, 4, 8)), default=[1, 2, 4],
                   metavar="D,...", help="merge lanes D of the arrays, each of 1, 2, 4, 8 "
                                         "(default: 1,2,4)")

    q = bench("conmerge", "ConMerge's schedules on the DiT's FFN-Reuse masks: passes, "
              "utilisation, against the bounds", bench_conmerge, default_seed=0)
    q.add_argument("--array", type=sizes, default=sizes("16x16"), metavar="RxC",
                   help="array the masks are cut for (default: 16x16)")

    q = bench("router", "hash bank router: requests per lane per cycle on CTR, ST and "
              "synthetic traces, both hashes, B = P and 2P", bench_router, default_seed=0)
    q.add_argument("--lanes", type=positive_int, default=16, metavar="P", help="request lanes")
    q.add_argument("--per-lane", type=positive_int, default=400, metavar="N",
                   help="requests per lane of each trace")
    q.add_argument("--word-bits", type=int, default=32, choices=WORD_CHOICES,
                   help="bits per word the gathers are cut into")

    q = bench("ctr", "CTR's decision unit: integer decisions against the float CTR's on whole "
              "DiT runs, and cycles per step", bench_ctr, default_seed=0)
    q.add_argument("--seeds", type=int_list, default=[0, 1], metavar="S,...",
                   help="noise seeds of the runs, each with every label (default: 0,1)")
    q.add_argument("--steps", type=positive_int, default=25, metavar="N", help="DDIM steps")
    q.add_argument("--per-class", type=positive_int, default=2, metavar="N",
                   help="samples per digit class of the float-against-integer sampling runs")

    q = bench("eager", "eager prediction: recall and sparsity on the DiT, and the predictor's "
              "area against an int8 MAC", bench_eager, default_seed=0)
    q.add_argument("--lanes", type=positive_int, default=16, metavar="L",
                   help="lanes of the units in the area comparison")
    q.add_argument("--no-quality", action="store_true", help="skip the DiT runs")
    q.add_argument("--no-area", action="store_true", help="skip the synthesis")

    def dit_runs(q):
        """The options of a benchmark's DiT runs, a part of its record of its own."""
        q.add_argument("--per-class", type=positive_int, default=20, metavar="N",
                       help="samples per digit class of the DiT runs")
        q.add_argument("--steps", type=_steps, default=DEFAULTS["steps"], metavar="N",
                       help="DDIM steps of the DiT runs (1 to 1000)")
        q.add_argument("--jobs", type=positive_int, default=1, metavar="N",
                       help="processes the DiT runs' batches spread over (default: 1)")
        q.add_argument("--no-quality", action="store_true",
                       help="skip the DiT runs (with --update the stored ones are kept)")

    q = bench("core", "the core: estimated cycles of a DiT block's program, and the DiT sampled "
              "with every block run by the golden core model against float, beside the core's "
              "number formats emulated in float", bench_core,
              default_seed=0)
    dit_runs(q)
    q.add_argument("--rows", type=positive_int, default=16, metavar="R",
                   help="engine rows of the RTL run (default: 16)")
    q.add_argument("--cols", type=positive_int, default=16, metavar="C",
                   help="engine columns of the RTL run (default: 16)")
    q.add_argument("--lanes", type=positive_int, default=16, metavar="L",
                   help="non-linear lanes of the RTL run (default: 16)")
    q.add_argument("--layer", type=int, choices=range(4), default=0,
                   help="the DiT block of the RTL run (default: 0)")
    q.add_argument("--tokens", type=positive_int, default=None, metavar="T",
                   help="the RTL run's block on its first T tokens (default: all 256)")
    q.add_argument("--no-rtl", action="store_true",
                   help="skip the RTL run (with --update the stored one is kept)")

    q = bench("exion", "ExionCore: FFN-Reuse's dense and sparse steps of a DiT block, its "
              "attention under eager prediction's masks, and EXION's steps (both) on the RTL "
              "against the dense block, and whole sampling runs from the calibrated cycle "
              "model", bench_exion, default_seed=0)
    q.add_argument("--layer", type=int, choices=range(4), default=1,
                   help="the DiT block of the RTL runs (default: 1)")
    q.add_argument("--tokens", type=positive_int, default=16, metavar="T",
                   help="the block on its first T tokens (default: 16, what the exion "
                        "preset's buffers hold)")
    q.add_argument("--sparsity", type=_fraction, default=0.9, metavar="S",
                   help="FFN-Reuse's quantile policy: FC1's target sparsity (default: 0.9)")
    q.add_argument("--eager-theta", type=_share, default=None, metavar="THETA",
                   help="eager prediction's threshold in logits below each row's predicted "
                        "maximum (default: 1, for 16 tokens; the predictor's own default, 4, "
                        "keeps almost every key of so few)")
    q.add_argument("--sampling-steps", type=_steps, default=DEFAULTS["steps"], metavar="N",
                   help="steps of the modelled sampling run (default: %(default)s)")

    q = bench("disc", "DiscCore: CTR's and ST's steps of a DiT block on the RTL against the "
              "dense block, and whole sampling runs from the calibrated cycle model",
              bench_disc, default_seed=0)
    q.add_argument("--layer", type=int, choices=range(4), default=1,
                   help="the DiT block of the RTL runs (default: 1)")
    q.add_argument("--tokens", type=_tokens, default=256, metavar="T",
                   help="the block on its first T tokens, 16 to 256 (default: 256, the DiT's "
                        "full shape; the core's buffers are sized for them)")
    q.add_argument("--rows", type=positive_int, default=8, metavar="R",
                   help="engine rows (default: 8)")
    q.add_argument("--cols", type=positive_int, default=8, metavar="C",
                   help="engine columns (default: 8)")
    q.add_argument("--lanes", type=positive_int, default=4, metavar="L",
                   help="non-linear lanes (default: 4)")
    q.add_argument("--kv-banks", type=positive_int, default=16, metavar="B",
                   help="banks of the K/V store's router, a power of two (default: 16)")
    q.add_argument("--gather-below", type=_share, default=None, metavar="S",
                   help="ST's reuse step gathers a head's row tiles' kept keys when they keep "
                        "below this share of the keys on average (0: never; inf: always; "
                        "default: the compiler's, golden.core_compile.GATHER_BELOW)")
    q.add_argument("--sampling-steps", type=_steps, default=DEFAULTS["steps"], metavar="N",
                   help="steps of the modelled sampling run (default: %(default)s)")

    q = bench("nonlinear", "integer non-linear unit: beats per cycle on back-to-back rows of "
              "each operation, and the DiT sampled with the integer operations against float",
              bench_nonlinear, default_seed=0)
    q.add_argument("--lanes", type=positive_int, default=16, metavar="L",
                   help="lanes of the unit whose rate is measured")
    dit_runs(q)
    q.add_argument("--no-rate", action="store_true",
                   help="skip the rate measurement (with --update the stored one is kept)")

    p = sub.add_parser("workload", help="sample the tiny DiT densely and with each algorithm "
                       "(records in <build>/workload)",
                       description="Sample the tiny DiT densely and with each algorithm and "
                                   "its control: work skipped, class accuracy, latent error.")
    p.add_argument("--suite", choices=sorted(SUITES), default="default",
                   help="default: each algorithm at its defaults beside its control; sweep: "
                        "several settings of FFN-Reuse and ST; ctr: CTR against its controls "
                        "and its alternatives at three reuse ratios")
    p.add_argument("--only", type=lambda s: s.split(","), default=None, metavar="RUN,...",
                   help="only these runs of the suite (by label)")
    p.add_argument("--per-class", type=positive_int, default=DEFAULTS["per_class"], metavar="N",
                   help="samples per digit class")
    p.add_argument("--steps", type=_steps, default=DEFAULTS["steps"], metavar="N",
                   help="DDIM steps (1 to 1000)")
    p.add_argument("--guidance", type=float, default=DEFAULTS["guidance"], metavar="G",
                   help="classifier-free guidance scale")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"],
                   help="noise seed (a record of another seed than the default is named "
                        "<suite>_seed<N>)")
    add_result_options(p, "workload")
    p.set_defaults(func=cmd_workload, prog_name=p.prog)
