"""The core's dependency tokens: a counter for each ordered pair of queues."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..params import resolve_params
from .isa import Queue
from .params import CoreParams


__all__ = ["TokenQueues", "QueuePort"]

QUEUES = len(Queue)


class QueuePort(wiring.Signature):
    """What one queue and the token counters say to each other (from the
    queue's side).

    Members
    -------
    pop, push : Out(QUEUES)
        The masks of the descriptor at the head of the queue.
    ready : In(1)
        A token waits in every pair ``pop`` names, and every pair ``push``
        names has room for one more beside those already promised.
    start : Out(1)
        The queue starts the descriptor (only while ``ready``): it takes its
        tokens and the room for its pushes is promised.
    done : Out(1)
        A descriptor of the queue ends: the tokens promised for ``done_push``
        are given.
    done_push : Out(QUEUES)
        The push mask of the descriptor that ends.
    """

    def __init__(self):
        super().__init__({"pop": Out(QUEUES), "push": Out(QUEUES), "ready": In(1),
                          "start": Out(1), "done": Out(1), "done_push": Out(QUEUES)})


class TokenQueues(wiring.Component):
    """The tokens between the core's four queues (``docs/core.md``): per
    ordered pair ``(a, b)``, the tokens given by ``a`` and not yet taken by
    ``b``, and the pushes of ``a`` to ``b`` started and not yet ended. A
    descriptor may start when each pair it pops from holds a token and each
    pair it pushes to has room (:attr:`CoreParams.token_depth` counting the
    promised ones), so that a push never waits at the end of a descriptor.

    ``ready`` is a function of the counters (registers) and the queue's own
    masks; a token given in a cycle can be taken in the next. Several queues
    may start and end in the same cycle, on the same pairs.

    Members
    -------
    q : dict of Queue to In(QueuePort())
        One port per queue, ``q[Queue.LOAD]`` and so on (``q_load`` ... as
        attributes).
    """

    def __init__(self, params=None, **kwargs):
        self.params = resolve_params(CoreParams, params, kwargs)
        super().__init__({f"q_{q.name.lower()}": In(QueuePort()) for q in Queue})

    @property
    def q(self):
        return {q: getattr(self, f"q_{q.name.lower()}") for q in Queue}

    def elaborate(self, platform):
        m = Module()
        depth = self.params.token_depth
        ports = self.q
        tokens = {(a, b): Signal(range(depth + 1), name=f"tokens_{a.name.lower()}_{b.name.lower()}")
                  for a in Queue for b in Queue if a != b}
        promised = {pair: Signal(range(depth + 1),
                                 name=f"promised_{pair[0].name.lower()}_{pair[1].name.lower()}")
                    for pair in tokens}
        for b, port in ports.items():
            ok = 1
            for a in Queue:
                if a == b:
                    continue
                ok = ok & (~port.pop[a.value] | (tokens[(a, b)] != 0))
                ok = ok & (~port.push[a.value] |
                           (tokens[(b, a)] + promised[(b, a)] < depth))
            # a mask bit for the queue itself never holds a token
            m.d.comb += port.ready.eq(ok & ~port.pop[b.value] & ~port.push[b.value])
        for (a, b), count in tokens.items():
            given = ports[a].done & ports[a].done_push[b.value]
            taken = ports[b].start & ports[b].pop[a.value]
            m.d.sync += count.eq(count + given - taken)
            promise = ports[a].start & ports[a].push[b.value]
            m.d.sync += promised[(a, b)].eq(promised[(a, b)] + promise - given)
        return m
