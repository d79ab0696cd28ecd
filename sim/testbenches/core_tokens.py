"""Amaranth-simulator testbench of the core's token counters: each queue
runs its descriptors of a program one after the other, for random
durations, starting each when the counters say it may."""

import random
from collections import deque

from amaranth.sim import Simulator

from exdisc.golden.core_isa import QUEUE_OF, decode
from exdisc.hw.core.isa import Queue
from exdisc.hw.core.tokens import TokenQueues


__all__ = ["run_queues"]


def run_queues(p, program, seed, *, longest=6, in_flight=2, max_cycles=None):
    """Run ``program``'s descriptors through :class:`TokenQueues`, each queue
    in its order: a descriptor starts when the counters say it may (after a
    random wait), lasts 1 to ``longest`` cycles (random), and up to
    ``in_flight`` of a queue's run at once, ending in order. Returns
    ``{index: (start, end)}``: the cycle its ``start`` was asserted and the
    cycle its ``done`` was, for every descriptor that ran (fewer than all
    when the queues waited for tokens that never came)."""
    rng = random.Random(seed)
    dut = TokenQueues(p)
    per_queue = {q: [] for q in Queue}
    for i, word in enumerate(program):
        op, f = decode(word)
        per_queue[Queue(int(QUEUE_OF[op]))].append((i, f["pop"], f["push"]))
    times = {}
    budget = max_cycles or (len(program) * (longest + 4) * 4 + 100)

    def queue(q):
        async def testbench(ctx):
            port = dut.q[q]
            todo = deque(per_queue[q])
            running = deque()          # (end cycle, index, push, start cycle)
            hold = rng.randrange(3)
            for now in range(budget):
                if not todo and not running:
                    return
                ending = bool(running) and running[0][0] == now
                if ending:
                    _, i, push, begun = running.popleft()
                    times[i] = (begun, now)
                ctx.set(port.done, ending)
                ctx.set(port.done_push, push if ending else 0)
                starting = False
                if todo:
                    i, pop, push = todo[0]
                    ctx.set(port.pop, pop)
                    ctx.set(port.push, push)
                    if hold:
                        hold -= 1
                    elif len(running) < in_flight and ctx.get(port.ready):
                        starting = True
                        todo.popleft()
                        after = running[-1][0] if running else now
                        running.append((max(now + 1 + rng.randrange(longest), after + 1),
                                        i, push, now))
                        hold = rng.randrange(3)
                ctx.set(port.start, starting)
                await ctx.tick()
        return testbench

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for q in Queue:
        sim.add_testbench(queue(q))
    sim.run()
    return times
