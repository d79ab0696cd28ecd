"""A cycle estimate of a descriptor program on the core.

Not yet an exact model of the RTL core: an event schedule of the four
queues under their tokens, with each descriptor's cost from the units'
rates, so that a program's overlap, the engine's busy fraction and where the
other cycles go can be read without a simulation. ``exdisc bench core`` sets
it beside the RTL's cycles of the same program; making the costs exact, as
:func:`.systolic.cycle_model` is for the engine, is open.

Costs:

``GEMM``
    ``ceil(m/R) * ceil(n/C)`` output tiles of ``k`` beats on an ``R x C``
    array, as :func:`.systolic.cycle_model` times them back to back (the
    engine's beats are its busy cycles).
``NONLINEAR``
    One beat of ``lanes`` values per cycle over the rows, plus the unit's
    latency of a row once (``2 * beats + 95`` cycles, as measured by
    ``exdisc bench nonlinear``); gain and bias loads are one row.
``ADD``
    ``add_lanes`` values per cycle, plus a few cycles of pipeline.
``LOAD``/``STORE``
    ``bytes_per_cycle`` of the external stream, plus its latency.
``SET``/``FINISH``
    One cycle / none.

A descriptor starts when its queue is free, it has been decoded (one every
:data:`DECODE_CYCLES`, in program order) and every token it pops has been
given; its pushes are given when it ends.
"""

import math
from collections import defaultdict, deque
from dataclasses import dataclass

from .core_isa import QUEUE_OF, Fn, Op, Queue, decode
from .systolic import cycle_model

__all__ = ["Timing", "estimate", "DECODE_CYCLES"]

#: Cycles between two descriptors out of the decoder (``hw.core.decode.Decoder``).
DECODE_CYCLES = 5
#: The non-linear unit's latency beyond twice a row's beats.
NONLINEAR_LATENCY = 95
ADD_LATENCY = 4


@dataclass(frozen=True)
class Timing:
    """What the estimate assumes of the core.

    Members
    -------
    rows, cols : int
        The engine's array.
    lanes : int
        The non-linear unit's lanes.
    add_lanes : int
        Values per cycle of the residual adder.
    bytes_per_cycle : int
        Width of the load and store streams.
    memory_latency : int
        Cycles from a load's request to its first data (and a store's).
    """
    rows: int = 16
    cols: int = 16
    lanes: int = 16
    add_lanes: int = 16
    bytes_per_cycle: int = 16
    memory_latency: int = 32

    def __post_init__(self):
        for name in ("rows", "cols", "lanes", "add_lanes", "bytes_per_cycle"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: expected a positive integer, got {v!r}")
        if not isinstance(self.memory_latency, int) or self.memory_latency < 0:
            raise ValueError(f"memory_latency: expected a non-negative integer, "
                             f"got {self.memory_latency!r}")


def _cost(op, f, t):
    """``(cycles, engine beats)`` of one descriptor."""
    if op == Op.GEMM:
        tiles = math.ceil(f["m"] / t.rows) * math.ceil(f["n"] / t.cols)
        return cycle_model(t.rows, t.cols, [f["k"]] * tiles)["total"], tiles * f["k"]
    if op == Op.NONLINEAR:
        beats = math.ceil(f["length"] / t.lanes)
        rows = 1 if f["fn"] in (Fn.LOAD_GAIN, Fn.LOAD_BIAS) else f["rows"]
        return rows * beats + 2 * beats + NONLINEAR_LATENCY, 0
    if op == Op.ADD:
        return f["rows"] * math.ceil(f["length"] / t.add_lanes) + ADD_LATENCY, 0
    if op in (Op.LOAD, Op.STORE):
        elem = {0: 1, 1: 1, 2: 4}.get(f["buffer"])
        nbytes = f["cols"] // 8 if elem is None else f["cols"] * elem
        return math.ceil(f["rows"] * nbytes / t.bytes_per_cycle) + t.memory_latency, 0
    return (1 if op == Op.SET else 0), 0


def estimate(program, timing=None):
    """The schedule's figures for ``program`` (well formed, ending in
    ``FINISH``): ``total`` cycles, ``engine_beats`` and ``engine_busy``
    (beats over total), each queue's busy cycles, cycles by operation, the
    cycles each queue spent waiting for tokens, and the ``schedule``: per
    descriptor ``(index, queue, operation, start, end)``."""
    t = timing or Timing()
    if not isinstance(t, Timing):
        raise TypeError(f"timing: expected a Timing, got {t!r}")
    queues = {q: deque() for q in Queue}
    for i, word in enumerate(program):
        op, f = decode(word)
        if not isinstance(op, Op):
            raise ValueError(f"program: descriptor {i} has no operation ({op})")
        queues[QUEUE_OF[op]].append((i, op, f))
    free = dict.fromkeys(Queue, 0)
    tokens = defaultdict(deque)            # (from, to) -> times the tokens were given
    busy, waits = defaultdict(int), defaultdict(int)
    by_op = defaultdict(int)
    schedule = []
    beats = 0
    end = 0
    while any(queues.values()):
        progressed = False
        for q in Queue:
            while queues[q]:
                i, op, f = queues[q][0]
                pops = [(p, q) for p in Queue if f["pop"] >> int(p) & 1]
                if any(not tokens[pair] for pair in pops):
                    break
                ready = max([i * DECODE_CYCLES] + [tokens[pair][0] for pair in pops])
                start = max(free[q], ready)
                waits[q.name.lower()] += max(0, ready - free[q])
                for pair in pops:
                    tokens[pair].popleft()
                cycles, b = _cost(op, f, t)
                free[q] = start + cycles
                end = max(end, free[q])
                busy[q.name.lower()] += cycles
                name = op.name if op != Op.NONLINEAR else Fn(f["fn"]).name
                by_op[name] += cycles
                schedule.append((i, q.name.lower(), name, start, free[q]))
                beats += b
                for p in Queue:
                    if f["push"] >> int(p) & 1:
                        tokens[(q, p)].append(free[q])
                queues[q].popleft()
                progressed = True
        if not progressed:
            waiting = min(queues[q][0][0] for q in Queue if queues[q])
            raise ValueError(f"program: descriptor {waiting} waits for a token that nothing "
                             "gives")
    return {"total": end, "engine_beats": beats, "engine_busy": beats / end if end else 0.0,
            "busy": dict(busy), "token_waits": dict(waits), "by_op": dict(by_op),
            "schedule": sorted(schedule), "timing": t.__dict__.copy()}
