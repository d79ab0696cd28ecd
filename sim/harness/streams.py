"""cocotb driver and monitor for Amaranth ``stream`` ports.

Amaranth flattens a stream member ``name`` of a component to the Verilog
ports ``name__valid``, ``name__ready`` and ``name__payload``. The driver
inserts random idle cycles before each transfer and the monitor drops
``ready`` at random, both from a seeded ``random.Random`` so that a failure
replays exactly from the seed the test printed.

Protocol (as in ``amaranth.lib.stream``): a transfer happens on a rising
edge where ``valid`` and ``ready`` are both high; once ``valid`` is high, the
payload is held until that transfer. Both sides write just after a rising
edge and sample in the read-only phase before the next one, so combinational
``valid``-to-``ready`` paths are seen settled.
"""

import os
import random

import cocotb

from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ReadOnly, RisingEdge, SimTimeoutError, Timer, with_timeout

from .limits import cycle_budget
from .payload import pack, unpack


__all__ = ["StreamDriver", "StreamMonitor", "Tick", "start_clock", "reset", "test_rng",
           "StreamTimeout", "within", "check_stream_unit", "cycle_budget"]

PERIOD_NS = 10


class StreamTimeout(AssertionError):
    """A stream made no progress for longer than its limit."""


async def within(cycles, awaitable, what):
    """Await ``awaitable`` (a coroutine) for at most ``cycles`` clock cycles.

    A design that stops making progress fails here, naming ``what`` and the
    limit (:func:`~exdisc.sim.harness.limits.cycle_budget` derives one from
    the stimulus), instead of running until an outside timeout.
    """
    try:
        return await with_timeout(awaitable, cycles * PERIOD_NS, "ns")
    except SimTimeoutError:
        raise StreamTimeout(f"{what} did not finish within {cycles} cycles") from None


def _port(dut, name, member):
    try:
        return getattr(dut, f"{name}__{member}")
    except AttributeError:
        raise AttributeError(f"design has no stream port {name!r} (missing {name}__{member})") from None


def test_rng(log, salt=""):
    """``random.Random`` seeded from ``EXDISC_SEED`` (set by the pytest wrapper).

    The seed is logged together with the way to replay it.
    """
    seed = int(os.environ.get("EXDISC_SEED", random.randrange(1 << 32)))
    log.info("random seed %d (replay with EXDISC_SEED=%d)", seed, seed)
    return random.Random(f"{seed}:{salt}"), seed


def _has(dut, name):
    try:
        getattr(dut, name)
        return True
    except AttributeError:
        return False


def cycle_now():
    """Current cycle number (simulation time over the clock period): one
    time base for every driver and monitor of a test."""
    return int(get_sim_time(unit="ns") // PERIOD_NS)


class Tick:
    """One cycle of the design: a rising edge of ``clk``, or for a purely
    combinational design (Amaranth emits no ``clk`` then) a fixed delay, so
    that the same driver and monitor test both."""

    def __init__(self, dut):
        self.clk = dut.clk if _has(dut, "clk") else None

    def __call__(self):
        if self.clk is not None:
            return RisingEdge(self.clk)
        return Timer(PERIOD_NS, unit="ns")


async def start_clock(dut):
    if _has(dut, "clk"):
        Clock(dut.clk, PERIOD_NS, unit="ns").start()


async def reset(dut, cycles=2):
    tick = Tick(dut)
    has_rst = _has(dut, "rst")
    if has_rst:
        dut.rst.value = 1
    for _ in range(cycles):
        await tick()
    if has_rst:
        dut.rst.value = 0


class _StreamEnd:
    """The ports of one stream and the random source shared by both ends."""

    def __init__(self, dut, name, layout, rng, prob, prob_name):
        if not 0.0 < prob <= 1.0:
            raise ValueError(f"parameter {prob_name!r} must be in (0, 1], not {prob!r}")
        self.tick = Tick(dut)
        self.valid = _port(dut, name, "valid")
        self.ready = _port(dut, name, "ready")
        self.payload = _port(dut, name, "payload")
        self.layout = layout
        self.rng = rng
        self.cycles = []


class StreamDriver(_StreamEnd):
    """Sends payloads on an input stream of the design.

    ``cycles`` lists the cycle (:func:`cycle_now`) of each accepted transfer.

    Parameters
    ----------
    dut : cocotb handle
        The top level.
    name : str
        Stream member name (``i`` for ``i__valid`` and so on).
    layout : amaranth shape or layout
        Payload layout, used by :func:`exdisc.sim.harness.payload.pack`.
    rng : random.Random
        Source of the idle cycles.
    valid_prob : float
        Probability that a transfer is offered in a given cycle; 1.0 drives
        back to back.
    """

    def __init__(self, dut, name, layout, rng, *, valid_prob=0.6):
        super().__init__(dut, name, layout, rng, valid_prob, "valid_prob")
        self.valid_prob = valid_prob
        self.sent = 0
        self.valid.value = 0

    async def send(self, items, *, max_stall=10_000):
        """Send every item in order; returns when the last one is accepted."""
        await self.tick()
        for item in items:
            word = pack(self.layout, item)
            while self.rng.random() >= self.valid_prob:
                # the payload is undefined while valid is low: random bits
                self.valid.value = 0
                self.payload.value = self.rng.getrandbits(len(self.payload))
                await self.tick()
            self.valid.value = 1
            self.payload.value = word
            for _ in range(max_stall):
                await ReadOnly()
                accepted = bool(self.ready.value)
                if accepted:
                    self.cycles.append(cycle_now())
                await self.tick()
                if accepted:
                    break
            else:
                raise StreamTimeout(f"{self.valid._name}: item {self.sent} not accepted "
                                    f"within {max_stall} cycles")
            self.sent += 1
        self.valid.value = 0


class StreamMonitor(_StreamEnd):
    """Receives payloads from an output stream of the design, with random
    backpressure.

    Parameters
    ----------
    dut, name, layout, rng :
        As for :class:`StreamDriver`.
    ready_prob : float
        Probability that ``ready`` is high in a given cycle.

    Members
    -------
    cycles : list of int
        Cycle (:func:`cycle_now`) of each transfer.
    """

    def __init__(self, dut, name, layout, rng, *, ready_prob=0.6):
        super().__init__(dut, name, layout, rng, ready_prob, "ready_prob")
        self.ready_prob = ready_prob
        self.ready.value = 0

    async def receive(self, count, *, max_idle=10_000):
        """Collect ``count`` payloads, unpacked by the layout."""
        items = []
        idle = 0
        await self.tick()
        while len(items) < count:
            ready = self.rng.random() < self.ready_prob
            self.ready.value = int(ready)
            await ReadOnly()
            if ready and bool(self.valid.value):
                items.append(unpack(self.layout, self.payload.value.to_unsigned()))
                self.cycles.append(cycle_now())
                idle = 0
            else:
                idle += 1
                if idle > max_idle:
                    raise StreamTimeout(f"{self.valid._name}: no transfer for {max_idle} cycles "
                                        f"after {len(items)} of {count} items")
            await self.tick()
        self.ready.value = 0
        return items

    async def expect_quiet(self, cycles):
        """Hold ``ready`` high for ``cycles`` and fail if anything arrives."""
        self.ready.value = 1
        for _ in range(cycles):
            await ReadOnly()
            if bool(self.valid.value):
                raise AssertionError(f"{self.valid._name}: unexpected extra transfer "
                                     f"{self.payload.value.to_unsigned():#x}")
            await self.tick()
        self.ready.value = 0


async def check_stream_unit(dut, params, jobs, rng, seed, what, *, valid_prob=0.7, ready_prob=0.6,
                            convert=None, max_idle=10_000, work=0):
    """Drive ``jobs`` (``(input beats, expected outputs)`` pairs) through a unit with
    ports ``i`` and ``o`` under random gaps and backpressure; compare every output
    (unpacked, then passed through ``convert`` if given) with the expected one.
    ``max_idle``: the longest wait for an output, and for an input to be taken
    (a unit that works long between them needs more than the default). The
    whole run is bounded by :func:`cycle_budget` of its beats, plus ``work``
    cycles the unit spends between them (a predictor's second stage, say)."""
    await start_clock(dut)
    driver = StreamDriver(dut, "i", params.in_layout, rng, valid_prob=valid_prob)
    monitor = StreamMonitor(dut, "o", params.out_layout, rng, ready_prob=ready_prob)
    await reset(dut)
    beats = [b for beats, _ in jobs for b in beats]
    want = [w for _, outs in jobs for w in outs]
    budget = cycle_budget(len(beats), len(want), valid_prob=valid_prob, ready_prob=ready_prob,
                          latency=getattr(params, "latency", 0) or 0) + work

    async def transfer():
        send = cocotb.start_soon(driver.send(beats, max_stall=max_idle))
        received = await monitor.receive(len(want), max_idle=max_idle)
        await send
        return received

    got = await within(budget, transfer(), f"{what}: {len(beats)} beats in, {len(want)} out")
    await monitor.expect_quiet(8)
    for n, (w, y) in enumerate(zip(want, got)):
        y = convert(y) if convert else y
        assert y == w, f"{what} output {n}: RTL {y} != golden {w} (seed {seed})"
    dut._log.info("%d %s outputs match the golden model", len(want), what)
