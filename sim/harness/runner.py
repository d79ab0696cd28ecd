"""Build a design once per parameter point and run cocotb testbenches on it.

Each (design, parameters, waves) gets its own directory under
``<build>/sim/`` (:func:`exdisc.common.workdir.build_root`); the Verilog is rewritten
only when its text changes, so a rerun neither re-verilates nor recompiles
(Verilator skips identical inputs, make finds nothing to do). ``WAVES=1``
builds a separate traced model and writes ``dump.vcd`` into the test's run
directory.
"""

import dataclasses
import json
import os
import pathlib
import random
import re
from xml.etree import ElementTree

from exdisc.hw.emit import emit_verilog
from exdisc.hw.units import get_unit
from exdisc.common.progress import log as default_log, step
from exdisc.sim.harness.verilator import BUILD_ARGS, Verilator, setup_environment
from exdisc.common.workdir import BUILD_ENV, build_dir as build_path, build_lock, write_if_changed


__all__ = ["SimRun", "SimulationFailed", "run_unit", "run_design", "design_params", "sim_dir"]


class SimulationFailed(AssertionError):
    """A cocotb test found the RTL different from its golden model (or no test
    checked anything); the message names the log and the seed."""


@dataclasses.dataclass
class SimRun:
    """Outcome of one cocotb run.

    Members
    -------
    build_dir, run_dir : pathlib.Path
        The model's build directory and this run's directory (``sim.log``).
    passed : list of str
        The cocotb tests that passed.
    skipped : list of (str, str)
        The tests that did not apply to this parameter point, with the reason
        each gave (``pytest.skip`` inside the test).
    failed : int
        Failed tests (a :class:`SimulationFailed` is raised first).
    seed : int
        The random seed (``EXDISC_SEED`` replays it).
    """
    build_dir: pathlib.Path
    run_dir: pathlib.Path
    passed: list
    skipped: list
    failed: int
    seed: int

    @property
    def tests(self):
        return len(self.passed) + len(self.skipped) + self.failed

    def summary(self):
        text = f"{len(self.passed)} passed"
        if self.skipped:
            text += f", {len(self.skipped)} skipped (" + "; ".join(
                f"{name}: {reason}" for name, reason in self.skipped) + ")"
        return text


def sim_dir(*parts):
    """A directory below ``<build>/sim``."""
    return build_path("sim", *parts)


def _waves():
    return os.environ.get("WAVES", "0") not in ("", "0")


PRIMITIVES_DIR = pathlib.Path(__file__).resolve().parent / "primitives"
# Simulation models of the primitives a target's elaboration instantiates.
TARGET_MODELS = {"ecp5": [PRIMITIVES_DIR / "MULT18X18D.v", PRIMITIVES_DIR / "DP16KD.v"]}

# cocotb logs a skipped test as "skipping <module>.<test>: <reason>" (maybe in colour).
_SKIP_LINE = re.compile(r"skipping\s+\S*?(\w+): (.*)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _outcomes(results, log_file):
    """(passed names, [(skipped name, reason)], failed count) of a results file."""
    passed, skipped, failed = [], [], 0
    for case in ElementTree.parse(results).getroot().iter("testcase"):
        name = case.get("name")
        if case.find("skipped") is not None:
            skipped.append(name)
        elif case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        else:
            passed.append(name)
    reasons = {}
    if log_file.exists():
        for line in log_file.read_text(errors="replace").splitlines():
            m = _SKIP_LINE.search(_ANSI.sub("", line))
            if m:
                reasons[m.group(1)] = m.group(2).strip()
    return passed, [(name, reasons.get(name, "no reason given")) for name in skipped], failed


def run_design(component, name, test_module, *, env=None, testcase=None, seed=None,
               run_name=None, log=default_log, platform=None):
    """Emit ``component`` as module ``name``, build it with Verilator (once)
    and run the cocotb tests of ``test_module`` (a module path such as
    ``exdisc.sim.testbenches.lod``); returns a :class:`SimRun`.

    ``platform`` (a :mod:`exdisc.hw.platform` target) elaborates with that
    target's primitives and simulates them with the models in
    ``primitives/``. ``env`` is passed to the testbench as environment
    variables. ``seed`` defaults to ``EXDISC_SEED`` or a fresh random one; it
    is logged, and the testbench receives it as ``EXDISC_SEED``. Raises
    :class:`SimulationFailed` when any cocotb test fails, or when every test
    was skipped (nothing was checked).
    """
    setup_environment()
    waves = _waves()
    target = platform.name if platform is not None else None
    directory = sim_dir(name + (f"-{target}" if target else "") + ("-waves" if waves else ""))
    if seed is None:
        seed = int(os.environ.get("EXDISC_SEED", random.randrange(1 << 32)))
    log(f"[sim] {name}: {test_module} seed={seed} (replay with EXDISC_SEED={seed})")
    with build_lock(directory):
        source = directory / f"{name}.v"
        write_if_changed(source, emit_verilog(component, name, platform))
        sources = [*TARGET_MODELS.get(target, []), source]
        runner = Verilator()
        with step(f"Verilator: building {name}"):
            runner.build(sources=sources, hdl_toplevel=name, build_dir=directory,
                         build_args=BUILD_ARGS, waves=waves, log_file=directory / "build.log")

        run_dir = directory / "run" / (run_name or test_module.rsplit(".", 1)[-1])
        run_dir.mkdir(parents=True, exist_ok=True)
        results = run_dir / "results.xml"
        sim_log = run_dir / "sim.log"
        test_env = {"EXDISC_SEED": str(seed), BUILD_ENV: str(build_path())}
        test_env.update({k: str(v) for k, v in (env or {}).items()})
        try:
            with step(f"cocotb: {test_module.rsplit('.', 1)[-1]} on {name}"):
                runner.test(test_module=test_module, hdl_toplevel=name, build_dir=directory,
                            test_dir=run_dir, results_xml=str(results), testcase=testcase,
                            seed=seed, extra_env=test_env, waves=waves, log_file=sim_log)
        except SystemExit:
            pass    # under pytest the runner exits on failure; the results file says why
        if not results.exists():
            raise SimulationFailed(f"simulation of {name} ended without results (seed {seed}); "
                                   f"log: {sim_log}")
        passed, skipped, failed = _outcomes(results, sim_log)
    outcome = SimRun(directory, run_dir, passed, skipped, failed, seed)
    if failed:
        raise SimulationFailed(f"{failed} of {outcome.tests} cocotb tests of {test_module} "
                               f"failed on {name} (seed {seed}); log: {sim_log}")
    if not passed:
        raise SimulationFailed(f"no cocotb test of {test_module} checked {name}: "
                               f"{outcome.summary()}; log: {sim_log}")
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
