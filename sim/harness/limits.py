"""Cycle limits of testbenches.

Every testbench is bounded by a cycle limit derived from its stimulus, in
the Amaranth simulator (:func:`exdisc.sim.harness.pysim.run_testbenches`) and
in cocotb (:func:`exdisc.sim.harness.streams.within`): a broken design fails
its test at the limit, naming what did not finish, in seconds rather than
at an outside timeout.
"""

__all__ = ["cycle_budget"]


def cycle_budget(inputs, outputs, *, valid_prob=1.0, ready_prob=1.0, latency=0, slack=4):
    """A cycle limit for moving ``inputs`` and ``outputs`` transfers through
    a design under the given valid and ready probabilities: ``slack`` times
    the cycles the transfers need on average, plus the design's latency and a
    margin of 1000 cycles. A correct design finishes well inside it; a
    stuck one fails at it."""
    expected = inputs / valid_prob + outputs / ready_prob
    return int(slack * expected) + latency + 1000
