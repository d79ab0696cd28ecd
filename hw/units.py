"""Registry of the generator's units: what ``exdisc generate NAME`` can build."""

import dataclasses

from .dot import DotParams, DotProduct
from .eager import LogDotParams, LogDotProduct
from .lod import LODParams, LeadingOneDetector
from .params import lookup
from .row_select import RowSelectParams, RowSelector
from .router import HashBankRouter, RouterParams
from .systolic import SystolicArray, SystolicParams


__all__ = ["Unit", "UNITS", "get_unit", "build"]


@dataclasses.dataclass(frozen=True)
class Unit:
    """One generatable unit.

    Members
    -------
    name : str
        Name on the command line and prefix of file and module names.
    params : type
        Its frozen parameter dataclass.
    component : type
        Its ``wiring.Component``; called with a params object.
    summary : str
        One line for ``exdisc list``.
    """
    name: str
    params: type
    component: type
    summary: str

    def module_name(self, params):
        """Verilog module name: stable and unique per parameter point."""
        return f"{self.name}_{params.slug()}".replace("-", "_")


UNITS = {u.name: u for u in [
    Unit("lod", LODParams, LeadingOneDetector,
         "leading-one detector (k = 1 plain, k = 2 two-step)"),
    Unit("systolic", SystolicParams, SystolicArray,
         "output-stationary R x C multiply-accumulate array"),
    Unit("logdot", LogDotParams, LogDotProduct,
         "eager predictor: log-domain dot product (k leading ones, no multipliers)"),
    Unit("rowselect", RowSelectParams, RowSelector,
         "eager predictor: row of scores to keep bitmask (max-relative or top-k)"),
    Unit("router", RouterParams, HashBankRouter,
         "DiSC hash bank router: P request lanes onto B hashed single-port SRAM banks"),
    Unit("dot", DotParams, DotProduct,
         "int multiply-accumulate dot product (the predictor's area reference)"),
]}


def get_unit(name):
    return lookup(UNITS, name, "unit")


def build(name, **params):
    """Validated parameters and a fresh component of unit ``name``."""
    unit = get_unit(name)
    p = unit.params(**params)
    return unit, p, unit.component(p)
