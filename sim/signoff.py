"""Which cocotb testbench signs off which unit."""

from hw.units import get_unit
from .runner import run_unit


__all__ = ["TESTBENCHES", "signoff"]


TESTBENCHES = {
    "lod": "sim.tb_lod",
    "systolic": "sim.tb_systolic",
    "logdot": "sim.tb_logdot",
    "rowselect": "sim.tb_rowselect",
    "eager": "sim.tb_eager_predictor",
    "router": "sim.tb_router",
    "conmerge": "sim.tb_conmerge",
    "mask": "sim.tb_mask_gen",
    "ffn": "sim.tb_ffn",
}


def signoff(unit_name, params, **kwargs):
    """Run the unit's cocotb testbench on its emitted Verilog."""
    get_unit(unit_name)
    try:
        module = TESTBENCHES[unit_name]
    except KeyError:
        raise ValueError(f"unit {unit_name!r} has no cocotb testbench yet") from None
    return run_unit(unit_name, params, module, **kwargs)
