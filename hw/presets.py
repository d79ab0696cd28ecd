"""Named parameter sets: what ``exdisc flow --preset NAME`` runs."""

from .lod import LODParams
from .params import lookup
from .systolic import SystolicParams


__all__ = ["PRESETS", "get_preset"]


PRESETS = {
    # The main job: every unit that exists, at its default size.
    "default": [
        ("lod", LODParams(width=16, k=2, registered=True)),
        ("systolic", SystolicParams(rows=4, cols=4)),
    ],
    # The engines the systolic issue reports: 8 x 8 and 16 x 16 int8.
    "engines": [
        ("systolic", SystolicParams(rows=8, cols=8)),
        ("systolic", SystolicParams(rows=16, cols=16)),
    ],
    # The LOD sweep the foundation issue reports: W = 16, 32 and k = 1, 2.
    "lod-sweep": [
        ("lod", LODParams(width=w, k=k)) for w in (16, 32) for k in (1, 2)
    ],
}


def get_preset(name):
    return lookup(PRESETS, name, "preset")
