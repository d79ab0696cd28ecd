"""Stream helpers for fast tests in the Amaranth simulator.

The same protocol as :mod:`exdisc.sim.harness.streams` (random idle cycles
on the sender, random backpressure on the receiver), for async Amaranth
testbenches, so a unit's quick test and its cocotb sign-off exercise the
same situations.

Every simulation here is bounded: :func:`run_testbenches` takes a cycle
limit (:func:`~exdisc.sim.harness.limits.cycle_budget` derives one from the
stimulus), and a design that stops making progress fails its test at the
limit instead of running until an outside timeout.
"""

from amaranth.sim import Simulator

from .limits import cycle_budget
from .payload import unpack


__all__ = ["stream_put", "stream_get", "run_testbenches", "run_stream_unit", "valid_cycles",
           "cycle_budget", "SimulationTimeout"]


class SimulationTimeout(AssertionError):
    """A simulation ran past its cycle limit."""


def _bits(payload):
    """A payload as a plain value (a layout's view as its bits)."""
    return payload.as_value() if hasattr(payload, "as_value") else payload


async def stream_put(ctx, stream, items, rng, *, valid_prob=0.6):
    """Send ``items`` (Python values accepted by ``ctx.set`` for the payload).
    While ``valid`` is low the payload carries random bits: a unit must not
    read it then."""
    payload = _bits(stream.payload)
    for item in items:
        while rng.random() >= valid_prob:
            ctx.set(payload, rng.getrandbits(len(payload)))
            await ctx.tick()
        ctx.set(stream.valid, 1)
        ctx.set(stream.payload, item)
        await ctx.tick().until(stream.ready)
        ctx.set(stream.valid, 0)


async def stream_get(ctx, stream, count, rng, *, ready_prob=0.6, cycles=None):
    """Receive ``count`` payloads as flat integers (unpack with
    :func:`exdisc.sim.harness.payload.unpack`). If ``cycles`` is a list, the
    cycle of each transfer (counted from the call) is appended to it."""
    out = []
    cycle = 0
    payload = _bits(stream.payload)
    while len(out) < count:
        ready = rng.random() < ready_prob
        ctx.set(stream.ready, ready)
        _, _, valid, value = await ctx.tick().sample(stream.valid, payload)
        if ready and valid:
            out.append(value)
            if cycles is not None:
                cycles.append(cycle)
        cycle += 1
    ctx.set(stream.ready, 0)
    return out


def run_testbenches(dut, *testbenches, max_cycles, clock=1e-8, vcd=None):
    """Simulate ``dut`` with a clock (if it has a sync domain) and testbenches.

    ``max_cycles`` bounds the run: a watchdog fails it after that many clock
    cycles if a testbench is still running (None only for a purely
    combinational design, whose testbenches never wait for a clock).
    """
    sim = Simulator(dut)
    try:
        sim.add_clock(clock)
        clocked = True
    except (NameError, ValueError):
        clocked = False         # purely combinational design
    if clocked:
        if max_cycles is None:
            raise ValueError("parameter 'max_cycles' must bound a clocked simulation, not None")

        async def watchdog(ctx):
            # one timer, not a wait per cycle: the watchdog costs nothing while it sleeps
            await ctx.delay(max_cycles * clock)
            raise SimulationTimeout(f"the testbenches did not finish within {max_cycles} cycles")
        sim.add_testbench(watchdog, background=True)
    for tb in testbenches:
        sim.add_testbench(tb)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()


def run_stream_unit(dut, inputs, count, rng, *, valid_prob=0.6, ready_prob=0.6, out="o",
                    latency=0, layout=None):
    """Send ``inputs`` (port name -> payloads) into ``dut``, each port with its
    own random gaps, and receive ``count`` payloads on port ``out`` under
    random backpressure, within :func:`cycle_budget` cycles. Returns
    ``(payloads, cycles)``: the payloads (flat integers, or unpacked by
    ``layout`` if given) and the cycle of each transfer."""
    got, cycles = [], []

    def put(name):
        async def testbench(ctx):
            await stream_put(ctx, getattr(dut, name), inputs[name], rng, valid_prob=valid_prob)
        return testbench

    async def get(ctx):
        got.extend(await stream_get(ctx, getattr(dut, out), count, rng,
                                    ready_prob=ready_prob, cycles=cycles))

    longest = max((len(v) for v in inputs.values()), default=0)
    budget = cycle_budget(longest, count, valid_prob=valid_prob, ready_prob=ready_prob,
                          latency=latency)
    run_testbenches(dut, *(put(name) for name in inputs), get, max_cycles=budget)
    if layout is not None:
        got = [unpack(layout, v) for v in got]
    return got, cycles


def valid_cycles(dut, beats, cycles, *, i="i", o="o"):
    """The cycles (1 = the one after the last beat's handshake) in which ``o``
    is valid within ``cycles``, for ``beats`` sent back to back on ``i`` with
    ``o`` always ready: a unit's latency and throughput, measured."""
    seen = []
    port_i, port_o = getattr(dut, i), getattr(dut, o)

    async def tb(ctx):
        ctx.set(port_o.ready, 1)
        for beat in beats:
            ctx.set(port_i.valid, 1)
            ctx.set(port_i.payload, beat)
            await ctx.tick().until(port_i.ready)
        ctx.set(port_i.valid, 0)
        for cycle in range(1, cycles):
            if ctx.get(port_o.valid):
                seen.append(cycle)
            await ctx.tick()

    run_testbenches(dut, tb, max_cycles=len(beats) + cycles + 1000)
    return seen
