"""Named parameter sets: what ``exdisc flow --preset NAME`` runs."""

from .conmerge import ConMergeParams
from .ctr_select import CtrSelectParams
from .core.params import CoreParams, DiscParams, ExionParams
from .eager_logdot import LogDotParams
from .ffn_engine import FFNEngineParams
from .lod import LODParams
from .params import lookup
from .eager_rowselect import RowSelectParams
from .router import RouterParams
from .systolic import SystolicParams


__all__ = ["PRESETS", "get_preset"]


PRESETS = {
    # The main job: the core, sized for the LFE5U-85F (docs/core.md, "The default
    # core"): an 8 x 8 engine (64 DSPs), a 4-lane non-linear unit, the add's 8
    # lanes (16 DSPs); buffers for a 16-token block of the DiT (256-wide rows:
    # the FFN's 256 columns; 256 weight rows: every weight of a block, K and V)
    # and no more, so that block RAM stays near half the part's. It routes
    # with nextpnr's static placer (its baseline records it), not with heap.
    "default": [
        ("core", CoreParams(width=256, act_rows=64, wgt_rows=256, acc_rows=64, mask_rows=32,
                            max_len=256, dram_bytes=1 << 18, array_rows=8, array_cols=8,
                            nl_lanes=4)),
    ],
    # ExionCore at the default core's sizes, with mask rows for FFN-Reuse's
    # mask beside two heads' keep masks (3 x 16 tokens). It routes with the
    # static placer, as the default core does (its baseline records it).
    "exion": [
        ("exion", ExionParams(width=256, act_rows=64, wgt_rows=256, acc_rows=64, mask_rows=64,
                              max_len=256, dram_bytes=1 << 18, array_rows=8, array_cols=8,
                              nl_lanes=4)),
    ],
    # DiscCore at the default core's sizes: a CTR step of 16 tokens fits them
    # (the reuse step's fresh keys and values and its index lists included),
    # and the K/V store every key and value of a 256-token layer (32 KB). One
    # non-linear lane: with the K/V store's router beside it, that is what
    # routes on the part (with the static placer, which its baseline records).
    "disc": [
        ("disc", DiscParams(width=256, act_rows=64, wgt_rows=256, acc_rows=64, mask_rows=32,
                            max_len=256, dram_bytes=1 << 18, array_rows=8, array_cols=8,
                            nl_lanes=1)),
    ],
    # The first units at their default sizes: small enough for `make test` to run
    # the whole flow, synthesis included.
    "units": [
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
    "exion-units": [
        ("conmerge", ConMergeParams(rows=16, cols=16, lanes=4, index_bits=8)),
        ("ffn", FFNEngineParams(rows=4, cols=4, lanes=4, dsp_pes=6)),
    ],
    # DiSC's units at the DiT's shape: the router as its baseline is taken (P 16,
    # B 32, 8-bit words) and CTR's decision for 256 tokens of 4 values.
    "disc-units": [
        ("router", RouterParams(lanes=16, banks=32, addr_width=14, data_width=8)),
        ("ctrselect", CtrSelectParams()),
    ],
    # The LOD sweep the foundation issue reports: W = 16, 32 and k = 1, 2.
    "lod-sweep": [
        ("lod", LODParams(width=w, k=k)) for w in (16, 32) for k in (1, 2)
    ],
}


def get_preset(name):
    return lookup(PRESETS, name, "preset")
