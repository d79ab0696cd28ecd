"""Synthesis targets, passed as ``platform`` to ``elaborate``.

Without a target (``platform=None``) every unit elaborates to portable RTL:
that is what ``exdisc generate`` emits by default and what simulation and the
technology-independent synthesis see. With :data:`ECP5` the units may
instantiate ECP5 primitives where inference cannot give the same result:
the systolic array's DSP PEs then use MULT18X18D with its input and output
registers, which yosys does not infer and without which the multiplier
is the longest path of the array. Both elaborations are cycle-for-cycle
identical at the ports; ``sim/harness/primitives/`` has the simulation models
that the tests use to check that.
"""

import dataclasses

from .params import lookup


__all__ = ["SynthTarget", "ECP5", "TARGETS", "get_target", "is_ecp5"]


@dataclasses.dataclass(frozen=True)
class SynthTarget:
    """A technology the units may instantiate primitives of."""
    name: str


ECP5 = SynthTarget("ecp5")
TARGETS = {"generic": None, "ecp5": ECP5}


def get_target(name):
    return lookup(TARGETS, name, "target")


def is_ecp5(platform):
    return isinstance(platform, SynthTarget) and platform.name == "ecp5"
