"""Which cocotb testbench signs off which unit."""

from exdisc.hw.units import get_unit
from exdisc.sim.harness.runner import run_unit


__all__ = ["TESTBENCHES", "signoff"]


TESTBENCHES = {
    "lod": "exdisc.sim.testbenches.lod",
    "systolic": "exdisc.sim.testbenches.systolic",
    "logdot": "exdisc.sim.testbenches.eager_logdot",
    "rowselect": "exdisc.sim.testbenches.eager_rowselect",
    "eager": "exdisc.sim.testbenches.eager_predictor",
    "router": "exdisc.sim.testbenches.router",
    "ctrselect": "exdisc.sim.testbenches.ctr_select",
    "conmerge": "exdisc.sim.testbenches.conmerge",
    "mask": "exdisc.sim.testbenches.mask_gen",
    "ffn": "exdisc.sim.testbenches.ffn",
    "nonlinear": "exdisc.sim.testbenches.nonlinear",
    "core": "exdisc.sim.testbenches.core",
    "exion": "exdisc.sim.testbenches.exion",
    "disc": "exdisc.sim.testbenches.disc",
}


def signoff(unit_name, params, **kwargs):
    """Run the unit's cocotb testbench on its emitted Verilog."""
    get_unit(unit_name)
    try:
        module = TESTBENCHES[unit_name]
    except KeyError:
        raise ValueError(f"unit {unit_name!r} has no cocotb testbench yet") from None
    return run_unit(unit_name, params, module, **kwargs)
