"""Named parameter sets: what ``exdisc flow --preset NAME`` runs."""

from .conmerge import ConMergeParams
from .eager_logdot import LogDotParams
from .ffn_engine import FFNEngineParams
from .lod import LODParams
from .params import lookup
from .eager_rowselect import RowSelectParams
from .router import RouterParams
from .systolic import SystolicParams


__all__ = ["PRESETS", "get_preset"]


PRESETS = {
    # The main job: the LOD and the engine at their default sizes (kept small: `make test`
    # runs it end to end; the eager units have their own preset).
    "default": [
        ("lod", LODParams(width=16, k=2, registered=True)),
        ("systolic", SystolicParams(rows=4, cols=4)),
    ],
    # The eager predictor's units and its area reference, as the eager issue reports them.
    "eager": [
        ("logdot", LogDotParams(k=2)),
        ("logdot", LogDotParams(k=2, encoded=True, split=False)),
        ("logdot", LogDotParams(k=1, encoded=True, split=False)),
        ("rowselect", RowSelectParams(mode="max_relative")),
        ("rowselect", RowSelectParams(mode="top_k")),
    ],
    # The router at a size `make test` can afford, both hashes (the bench and the
    # P = 16, B = 32 baseline cover the full size).
    "router": [
        ("router", RouterParams(lanes=4, banks=8, hash="xor")),
        ("router", RouterParams(lanes=4, banks=8, hash="modulo")),
    ],
    # The engines at the sizes that matter: 8 x 8 and 16 x 16 int8, each at
    # the pipelining that reaches its Fmax target (16 x 16: one adder level
    # of the LUT PEs' multipliers per cycle; the default's half products are
    # the 16 x 16 array's longest path).
    "engines": [
        ("systolic", SystolicParams(rows=8, cols=8)),
        ("systolic", SystolicParams(rows=16, cols=16, mul_stages=3)),
    ],
    # EXION's FFN-Reuse units as the ConMerge issue reports them: ConMerge at
    # 16 x 16 with D = 4 and the FFN engine (array and output path) with merge lanes.
    "exion": [
        ("conmerge", ConMergeParams(rows=16, cols=16, lanes=4, index_bits=8)),
        ("ffn", FFNEngineParams(rows=4, cols=4, lanes=4, dsp_pes=6)),
    ],
    # The LOD sweep the foundation issue reports: W = 16, 32 and k = 1, 2.
    "lod-sweep": [
        ("lod", LODParams(width=w, k=k)) for w in (16, 32) for k in (1, 2)
    ],
}


def get_preset(name):
    return lookup(PRESETS, name, "preset")
