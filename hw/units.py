"""Registry of the generator's units: what ``exdisc generate NAME`` can build."""

import dataclasses
import hashlib

from .conmerge import ConMerge, ConMergeParams
from .ctr_select import CtrSelectParams, CtrSelector
from .dot import DotAreaFloor, DotParams, DotProduct
from .eager_logdot import LogDotAreaFloor, LogDotParams, LogDotProduct
from .eager_predictor import EagerParams, EagerPredictor
from .ffn_engine import FFNEngine, FFNEngineParams
from .lod import LODParams, LeadingOneDetector
from .mask_gen import MaskGenParams, MaskGenerator
from .nonlinear import NonLinearParams, NonLinearUnit
from .core.core import Core
from .core.params import CoreParams, DiscParams, ExionParams
from .params import lookup
from .eager_rowselect import RowSelectParams, RowSelector
from .router import HashBankRouter, RouterParams
from .systolic import SystolicArray, SystolicParams


__all__ = ["Unit", "UNITS", "AREA_FLOORS", "get_unit", "build", "MAX_MODULE_NAME"]

#: Longest generated module name.
MAX_MODULE_NAME = 80


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
        """Verilog module name: stable and unique per parameter point.

        All parameters when that fits :data:`MAX_MODULE_NAME` characters
        (Verilator mangles longer top-level names), else the parameters that
        differ from their defaults and a digest of all of them.
        """
        full = f"{self.name}_{params.slug()}".replace("-", "_")
        if len(full) <= MAX_MODULE_NAME:
            return full
        digest = hashlib.sha1(full.encode()).hexdigest()[:8]
        changed = [f"{name}{int(v) if isinstance(v, bool) else v}"
                   for name, default, _ in params.fields()
                   if (v := getattr(params, name)) != default]
        prefix = "_".join([self.name, *changed])[:MAX_MODULE_NAME - len(digest) - 1]
        return f"{prefix}_{digest}"


UNITS = {u.name: u for u in [
    Unit("lod", LODParams, LeadingOneDetector,
         "leading-one detector (k = 1 plain, k = 2 two-step)"),
    Unit("systolic", SystolicParams, SystolicArray,
         "output-stationary R x C multiply-accumulate array"),
    Unit("ffn", FFNEngineParams, FFNEngine,
         "FFN-Reuse engine: the array with its output path (P + S, P = dense - masked, mask)"),
    Unit("logdot", LogDotParams, LogDotProduct,
         "eager predictor: log-domain dot product (k leading ones, no multipliers)"),
    Unit("rowselect", RowSelectParams, RowSelector,
         "eager predictor: row of scores to keep bitmask (max-relative or top-k)"),
    Unit("eager", EagerParams, EagerPredictor,
         "eager predictor: X, Wq, Wk to an attention mask (both stages and the selector)"),
    Unit("conmerge", ConMergeParams, ConMerge,
         "EXION ConMerge: mask columns to condensed, merged passes (first fit)"),
    Unit("mask", MaskGenParams, MaskGenerator,
         "FFN-Reuse mask generator: FC1 accumulators above their integer thresholds"),
    Unit("router", RouterParams, HashBankRouter,
         "DiSC hash bank router: P request lanes onto B hashed single-port SRAM banks"),
    Unit("ctrselect", CtrSelectParams, CtrSelector,
         "DiSC CTR's decision: latent difference to fresh tokens (history-weighted radix select)"),
    Unit("dot", DotParams, DotProduct,
         "int multiply-accumulate dot product (the predictor's area reference)"),
    Unit("nonlinear", NonLinearParams, NonLinearUnit,
         "integer softmax (with ST's keep mask), GELU, LayerNorm with adaLN, requantize"),
    Unit("core", CoreParams, Core,
         "the dense core: engine, non-linear unit, buffers, loads and stores, run by descriptors"),
    Unit("exion", ExionParams, Core,
         "ExionCore: the core with FFN-Reuse's mask generation and sparse GEMMs (skipped steps, "
         "condensed columns)"),
    Unit("disc", DiscParams, Core,
         "DiscCore: the core with gathers and scatters of token rows by index lists (CTR's "
         "token cache)"),
]}


#: Area references, not units of the generator (not listed, generated or signed
#: off): a unit's registers, adder tree and accumulators without its lane products.
#: ``exdisc bench eager`` synthesizes them (:func:`exdisc.synth.flow.synthesize` takes a
#: :class:`Unit` as well as a name) to bound what the predictor's lanes can save.
AREA_FLOORS = {u.name: u for u in [
    Unit("logdot_floor", LogDotParams, LogDotAreaFloor,
         "log-domain dot product (k = 2, encoded) without its lane products"),
    Unit("dot_floor", DotParams, DotAreaFloor, "int MAC dot product without its multipliers"),
]}


def get_unit(name):
    return lookup(UNITS, name, "unit")


def build(name, **params):
    """Validated parameters and a fresh component of unit ``name``."""
    unit = get_unit(name)
    p = unit.params(**params)
    return unit, p, unit.component(p)
