"""Build a design once per parameter point and run cocotb testbenches on it.

Each (design, parameters, waves) gets its own directory under
``build/sim/``; the Verilog is rewritten only when its text changes, so a
rerun neither re-verilates nor recompiles (Verilator skips identical inputs,
make finds nothing to do). ``WAVES=1`` builds a separate traced model and
writes ``dump.vcd`` into the test's run directory.
"""

import json
import os
import pathlib
import random

from cocotb_tools.runner import get_results

from hw.emit import PROJECT_ROOT, build_lock, emit_verilog, write_if_changed
from hw.units import get_unit
from .verilator import BUILD_ARGS, Verilator, setup_environment


__all__ = ["BUILD_ROOT", "SimRun", "run_unit", "run_design", "design_params"]


BUILD_ROOT = PROJECT_ROOT / "build" / "sim"


def _waves():
    return os.environ.get("WAVES", "0") not in ("", "0")


class SimRun:
    """Outcome of one cocotb run: counts and where its files are."""

    def __init__(self, build_dir, run_dir, results, tests, failed, seed):
        self.build_dir = build_dir
        self.run_dir = run_dir
        self.results = results
        self.tests = tests
        self.failed = failed
        self.seed = seed

    def __repr__(self):
        return f"SimRun({self.tests} tests, {self.failed} failed, seed {self.seed}, {self.run_dir})"


MODELS_DIR = pathlib.Path(__file__).resolve().parent / "models"
# Simulation models of the primitives a target's elaboration instantiates.
TARGET_MODELS = {"ecp5": [MODELS_DIR / "MULT18X18D.v", MODELS_DIR / "DP16KD.v"]}


def run_design(component, name, test_module, *, env=None, testcase=None, seed=None,
               run_name=None, log=print, platform=None):
    """Emit ``component`` as module ``name``, build it with Verilator (once)
    and run the cocotb tests of ``test_module`` (a module path such as
    ``sim.tb_lod``).

    ``platform`` (a :mod:`hw.platform` target) elaborates with that
    target's primitives and simulates them with the models in
    ``sim/models/``. ``env`` is passed to the testbench as environment
    variables. ``seed``
    defaults to ``EXDISC_SEED`` or a fresh random one; it is printed, and the
    testbench receives it as ``EXDISC_SEED``. Raises ``AssertionError`` when
    any cocotb test fails or none ran.
    """
    setup_environment()
    waves = _waves()
    target = platform.name if platform is not None else None
    build_dir = BUILD_ROOT / (name + (f"-{target}" if target else "") + ("-waves" if waves else ""))
    if seed is None:
        seed = int(os.environ.get("EXDISC_SEED", random.randrange(1 << 32)))
    log(f"[sim] {name}: {test_module} seed={seed} (replay with EXDISC_SEED={seed})")
    with build_lock(build_dir):
        source = build_dir / f"{name}.v"
        write_if_changed(source, emit_verilog(component, name, platform))
        sources = [*TARGET_MODELS.get(target, []), source]
        runner = Verilator()
        runner.build(sources=sources, hdl_toplevel=name, build_dir=build_dir,
                     build_args=BUILD_ARGS, waves=waves, log_file=build_dir / "build.log")

        run_dir = build_dir / "run" / (run_name or test_module.rsplit(".", 1)[-1])
        run_dir.mkdir(parents=True, exist_ok=True)
        results = run_dir / "results.xml"
        test_env = {"EXDISC_SEED": str(seed), "PYTHONPATH": str(PROJECT_ROOT)}
        test_env.update({k: str(v) for k, v in (env or {}).items()})
        try:
            runner.test(test_module=test_module, hdl_toplevel=name, build_dir=build_dir,
                        test_dir=run_dir, results_xml=str(results), testcase=testcase,
                        seed=seed, extra_env=test_env, waves=waves,
                        log_file=run_dir / "sim.log")
        except SystemExit:
            pass    # under pytest the runner exits on failure; the results file says why
        if not results.exists():
            raise AssertionError(f"simulation of {name} produced no results (seed {seed}); "
                                 f"log: {run_dir / 'sim.log'}")
        tests, failed = get_results(results)
    outcome = SimRun(build_dir, run_dir, results, tests, failed, seed)
    if tests == 0:
        raise AssertionError(f"no cocotb test ran in {test_module}: {outcome}")
    if failed:
        raise AssertionError(f"{failed} of {tests} cocotb tests failed (seed {seed}); "
                             f"log: {run_dir / 'sim.log'}")
    return outcome


def run_unit(unit_name, params, test_module, **kwargs):
    """:func:`run_design` for a registered unit; its parameters reach the
    testbench as ``EXDISC_PARAMS`` (see :func:`design_params`)."""
    unit = get_unit(unit_name)
    component = unit.component(params)
    env = dict(kwargs.pop("env", None) or {})
    env["EXDISC_PARAMS"] = json.dumps({"unit": unit_name, "params": params.as_dict()})
    return run_design(component, unit.module_name(params), test_module, env=env, **kwargs)


def design_params():
    """In a testbench: the unit and parameter object that :func:`run_unit`
    built the design from."""
    spec = json.loads(os.environ["EXDISC_PARAMS"])
    unit = get_unit(spec["unit"])
    return unit, unit.params(**spec["params"])
