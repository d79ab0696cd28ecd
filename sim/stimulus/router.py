"""Traffic and scoreboard for :class:`exdisc.hw.router.HashBankRouter`, simulator-neutral.

A *program* is a list of epochs; an epoch gives each lane a list of
requests ``(write, addr, data, tag)``. Inside an epoch each written address
belongs to one lane (which may also read it) and the other addresses the
epoch touches are only read, so the expected responses do not depend on how
the router interleaves lanes (:class:`exdisc.golden.router.BankedBufferModel`
defines them). The next epoch starts on any lane only when every response of
the current one has arrived: that is where ownership may change hands.

:class:`RouterTraffic` decides, cycle by cycle, what every lane offers and
whether every response port is ready (random gaps and backpressure from a
seeded ``random.Random``), checks each response against the golden model as
it arrives and records handshake cycles. The cocotb driver
(:func:`cocotb_traffic`) and the Amaranth testbench (:func:`amaranth_testbench`)
are thin loops around it, both bounded by :meth:`RouterTraffic.cycle_limit`.
"""

import numpy as np

from exdisc.golden.router import BankedBufferModel
from exdisc.sim.harness.limits import cycle_budget


__all__ = ["random_program", "trace_program", "expected_responses", "RouterTraffic",
           "amaranth_testbench", "cocotb_traffic"]


def _request(write, addr, data, tag):
    return {"write": int(write), "addr": int(addr), "data": int(data), "tag": int(tag)}


def random_program(p, rng, requests, *, epoch_sizes=(8, 2000)):
    """Random epochs of reads and writes, ``requests`` in all.

    Each epoch draws its addresses from a hot pool of ``4 B`` words shared by
    all epochs (bank conflicts, reads after writes across epochs), a run of
    addresses strided by a multiple of ``B`` (one bank under ``modulo``) and
    uniform addresses, and gives each a random owner lane or none (read
    only). A lane writes only what it owns and reads what it owns or what
    nobody owns. Write data is random; tags count per lane.
    """
    space = 1 << p.addr_width
    pool = rng.sample(range(space), min(space, 4 * p.banks))
    read_only = p.lanes
    program, total, tags = [], 0, [0] * p.lanes
    while total < requests:
        size = min(rng.randint(*epoch_sizes), requests - total)
        base, stride = rng.randrange(space), p.banks * rng.choice([1, 2, 4])
        groups = [pool, sorted({(base + i * stride) % space for i in range(64)}),
                  [rng.randrange(space) for _ in range(64)]]
        owner = {a: rng.randrange(p.lanes + 1) for g in groups for a in g}
        usable = [[[a for a in g if owner[a] in (lane, read_only)] for g in groups]
                  for lane in range(p.lanes)]
        epoch = [[] for _ in range(p.lanes)]
        for _ in range(size):
            lane = rng.randrange(p.lanes)
            choices = usable[lane][rng.choices(range(3), weights=(6, 2, 2))[0]] or usable[lane][0]
            addr = rng.choice(choices or [rng.choice(pool)])
            write = owner[addr] == lane and rng.random() < 0.5
            if owner[addr] not in (lane, read_only):
                write, addr = False, None
            if addr is None:
                continue
            data = rng.getrandbits(p.data_width) if write else 0
            epoch[lane].append(_request(write, addr, data, tags[lane]))
            tags[lane] = (tags[lane] + 1) % (1 << p.tag_width)
            total += 1
        program.append(epoch)
    return program


def trace_program(p, lanes_addrs, tag_base=0):
    """One epoch of reads: lane ``n`` reads ``lanes_addrs[n]`` in order."""
    if len(lanes_addrs) != p.lanes:
        raise ValueError(f"trace has {len(lanes_addrs)} lanes, the router {p.lanes}")
    mask = (1 << p.tag_width) - 1
    return [[[_request(0, a, 0, (tag_base + i) & mask) for i, a in enumerate(seq)]
             for seq in lanes_addrs]]


def expected_responses(p, program, model=None):
    """Per epoch and lane, the responses ``{"write", "data", "tag"}`` the golden
    model gives (lane after lane: an epoch's result does not depend on the order)."""
    model = model or BankedBufferModel(p.banks, p.hash, p.addr_width, p.data_width)
    out = []
    for epoch in program:
        out.append([])
        for lane in epoch:
            out[-1].append([])
            for r in lane:
                value = model.access(r["write"], r["addr"], r["data"])
                out[-1][-1].append({"write": r["write"], "data": 0 if r["write"] else value,
                                    "tag": r["tag"]})
    return out


class RouterTraffic:
    """Cycle-by-cycle stimulus and scoreboard of every lane.

    Parameters
    ----------
    p : RouterParams
    program : list
        Epochs of per-lane requests (:func:`random_program`, :func:`trace_program`).
    rng : random.Random
        Source of gaps and backpressure.
    valid_prob, ready_prob : float
        Probability that an idle lane offers its next request in a cycle, and
        that a response port is ready; 1.0 drives at full rate.
    seed : int
        Quoted in failure messages.

    Members
    -------
    model : golden.router.BankedBufferModel
        The golden buffer, in its state after the whole program.
    accepted, answered : list of list of int
        Per lane, the cycle of each request and response handshake.
    """

    def __init__(self, p, program, rng, *, valid_prob=0.7, ready_prob=0.7, seed=None):
        self.p, self.program, self.rng = p, program, rng
        self.valid_prob, self.ready_prob, self.seed = valid_prob, ready_prob, seed
        #: The golden buffer after the whole program.
        self.model = BankedBufferModel(p.banks, p.hash, p.addr_width, p.data_width)
        self.expected = expected_responses(p, program, self.model)
        self.epoch = 0
        self.sent = [0] * p.lanes
        self.received = [0] * p.lanes
        self.offer = [None] * p.lanes
        self.ready = [False] * p.lanes
        self.accepted = [[] for _ in range(p.lanes)]
        self.answered = [[] for _ in range(p.lanes)]
        self.checked = 0
        self._skip_empty()

    @property
    def done(self):
        return self.epoch >= len(self.program)

    def _skip_empty(self):
        while not self.done and all(
                self.received[n] == len(self.program[self.epoch][n]) for n in range(self.p.lanes)):
            self.epoch += 1
            self.sent = [0] * self.p.lanes
            self.received = [0] * self.p.lanes

    def drive(self):
        """What to put on the ports this cycle: per lane ``(offer or None, resp ready)``."""
        for n in range(self.p.lanes):
            if self.offer[n] is None and not self.done:
                queue = self.program[self.epoch][n]
                if self.sent[n] < len(queue) and self.rng.random() < self.valid_prob:
                    self.offer[n] = queue[self.sent[n]]
            self.ready[n] = self.rng.random() < self.ready_prob
        return list(zip(self.offer, self.ready))

    def observe(self, cycle, req_ready, resp_valid, resp_payload):
        """Account for the handshakes of this cycle (values sampled before the clock edge)."""
        for n in range(self.p.lanes):
            if self.offer[n] is not None and req_ready[n]:
                self.offer[n] = None
                self.sent[n] += 1
                self.accepted[n].append(cycle)
            if self.ready[n] and resp_valid[n]:
                got = resp_payload[n]
                if self.done or self.received[n] >= len(self.expected[self.epoch][n]):
                    raise AssertionError(f"lane {n}: extra response {got} (seed {self.seed})")
                want = self.expected[self.epoch][n][self.received[n]]
                if got != want:
                    raise AssertionError(
                        f"lane {n} epoch {self.epoch} response {self.received[n]}: "
                        f"RTL {got} != golden {want} "
                        f"(request {self.program[self.epoch][n][self.received[n]]}, "
                        f"seed {self.seed})")
                self.received[n] += 1
                self.answered[n].append(cycle)
                self.checked += 1
        self._skip_empty()

    def latencies(self):
        """Cycles from each request's handshake to its response's, all lanes."""
        return np.concatenate([np.asarray(r) - np.asarray(a[:len(r)])
                               for a, r in zip(self.accepted, self.answered) if r] or [[]])

    def rate(self):
        """Sustained rate: responses per lane per cycle from the first response
        to the last. Unlike the request handshakes, which run ahead while the
        queues fill, responses leave only as fast as the banks serve."""
        cycles = [c for r in self.answered for c in r]
        if not cycles:
            return 0.0
        return len(cycles) / self.p.lanes / (max(cycles) - min(cycles) + 1)

    def cycle_limit(self):
        """Cycles the whole program may take: every request through one bank
        (the worst case a correct router can be driven into) under the gaps
        and backpressure, and each epoch's drain (:func:`cycle_budget`)."""
        total = sum(len(lane) for epoch in self.program for lane in epoch)
        return cycle_budget(total, total, valid_prob=self.valid_prob, ready_prob=self.ready_prob,
                            latency=len(self.program) * 4 * self.p.latency)


def _resp_values(p, raw):
    from exdisc.sim.harness.payload import unpack
    return [unpack(p.resp_layout, v) for v in raw]


def _unfinished(traffic, cycles):
    return AssertionError(f"router traffic unfinished after {cycles} cycles (epoch "
                          f"{traffic.epoch} of {len(traffic.program)}, seed {traffic.seed})")


def amaranth_testbench(dut, traffic):
    """An async Amaranth testbench that runs ``traffic`` on ``dut`` to the end,
    within :meth:`RouterTraffic.cycle_limit` cycles."""
    p = traffic.p
    limit = traffic.cycle_limit()

    async def testbench(ctx):
        sampled = [s for n in range(p.lanes) for s in (
            dut.req[n].ready, dut.resp[n].valid, dut.resp[n].payload.as_value())]
        cycle = 0
        while not traffic.done:
            for n, (offer, ready) in enumerate(traffic.drive()):
                ctx.set(dut.req[n].valid, offer is not None)
                # a payload not offered is random bits
                if offer is None:
                    ctx.set(dut.req[n].payload.as_value(), traffic.rng.getrandbits(p.req_layout.size))
                else:
                    ctx.set(dut.req[n].payload, offer)
                ctx.set(dut.resp[n].ready, ready)
            values = (await ctx.tick().sample(*sampled))[2:]
            traffic.observe(cycle, values[0::3], values[1::3], _resp_values(p, values[2::3]))
            cycle += 1
            if cycle > limit:
                raise _unfinished(traffic, limit)
        for n in range(p.lanes):
            ctx.set(dut.req[n].valid, 0)
            ctx.set(dut.resp[n].ready, 1)
        for _ in range(2 * p.latency):
            values = (await ctx.tick().sample(*[dut.resp[n].valid for n in range(p.lanes)]))[2:]
            assert not any(values), f"response after the last one expected (seed {traffic.seed})"

    return testbench


async def cocotb_traffic(dut, traffic):
    """Run ``traffic`` to its end on the emitted router in cocotb, within
    :meth:`RouterTraffic.cycle_limit` cycles; returns the cycles it took.
    After the last response every port must stay quiet."""
    from cocotb.triggers import ReadOnly
    from exdisc.sim.harness.payload import pack, unpack
    from exdisc.sim.harness.streams import Tick
    p, tick, limit = traffic.p, Tick(dut), traffic.cycle_limit()

    def ports(kind, n):
        return [getattr(dut, f"{kind}__{n}__{m}") for m in ("valid", "ready", "payload")]

    req = [ports("req", n) for n in range(p.lanes)]
    resp = [ports("resp", n) for n in range(p.lanes)]
    for valid, _, _ in req:
        valid.value = 0
    for _, ready, _ in resp:
        ready.value = 0
    await tick()
    cycle = 0
    while not traffic.done:
        for (valid, _, payload), (_, ready, _), (offer, take) in zip(req, resp, traffic.drive()):
            valid.value = int(offer is not None)
            payload.value = (pack(p.req_layout, offer) if offer is not None else
                             traffic.rng.getrandbits(len(payload)))
            ready.value = int(take)
        await ReadOnly()
        req_ready = [bool(r.value) for _, r, _ in req]
        resp_valid = [bool(v.value) for v, _, _ in resp]
        payloads = [unpack(p.resp_layout, pl.value.to_unsigned()) if v else None
                    for v, (_, _, pl) in zip(resp_valid, resp)]
        traffic.observe(cycle, req_ready, resp_valid, payloads)
        await tick()
        cycle += 1
        if cycle > limit:
            raise _unfinished(traffic, limit)
    for (valid, _, _), (_, ready, _) in zip(req, resp):
        valid.value = 0
        ready.value = 1
    for _ in range(2 * p.latency):
        await ReadOnly()
        extra = [n for n, (v, _, _) in enumerate(resp) if v.value]
        assert not extra, (f"lanes {extra}: response after the last expected one "
                           f"(seed {traffic.seed})")
        await tick()
    return cycle
