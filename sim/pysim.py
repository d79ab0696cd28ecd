"""Stream helpers for fast tests in the Amaranth simulator.

The same protocol as :mod:`sim.streams` (random idle cycles on the sender,
random backpressure on the receiver), for async Amaranth testbenches, so a
unit's quick test and its cocotb sign-off exercise the same situations.
"""

from amaranth.sim import Simulator


__all__ = ["stream_put", "stream_get", "run_testbenches"]


async def stream_put(ctx, stream, items, rng, *, valid_prob=0.6):
    """Send ``items`` (Python values accepted by ``ctx.set`` for the payload)."""
    for item in items:
        while rng.random() >= valid_prob:
            await ctx.tick()
        ctx.set(stream.valid, 1)
        ctx.set(stream.payload, item)
        await ctx.tick().until(stream.ready)
        ctx.set(stream.valid, 0)


async def stream_get(ctx, stream, count, rng, *, ready_prob=0.6, max_idle=10_000, cycles=None):
    """Receive ``count`` payloads as flat integers (unpack with
    :func:`sim.payload.unpack`). If ``cycles`` is a list, the cycle of each
    transfer (counted from the call) is appended to it."""
    out = []
    idle = 0
    cycle = 0
    payload = stream.payload.as_value() if hasattr(stream.payload, "as_value") else stream.payload
    while len(out) < count:
        ready = rng.random() < ready_prob
        ctx.set(stream.ready, ready)
        _, _, valid, value = await ctx.tick().sample(stream.valid, payload)
        if ready and valid:
            out.append(value)
            if cycles is not None:
                cycles.append(cycle)
            idle = 0
        else:
            idle += 1
            assert idle <= max_idle, f"no transfer for {max_idle} cycles after {len(out)} items"
        cycle += 1
    ctx.set(stream.ready, 0)
    return out


def run_testbenches(dut, *testbenches, clock=1e-8, vcd=None):
    """Simulate ``dut`` with a clock (if it has a sync domain) and testbenches."""
    sim = Simulator(dut)
    try:
        sim.add_clock(clock)
    except (NameError, ValueError):
        pass    # purely combinational design
    for tb in testbenches:
        sim.add_testbench(tb)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()


def run_stream_unit(dut, inputs, count, rng, *, valid_prob=0.6, ready_prob=0.6, out="o"):
    """Send ``inputs`` (port name -> payloads) into ``dut``, each port with its
    own random gaps, and receive ``count`` payloads on port ``out`` under
    random backpressure. Returns ``(payloads, cycles)``: the flat integers
    and the cycle of each transfer."""
    got, cycles = [], []

    def put(name):
        async def testbench(ctx):
            await stream_put(ctx, getattr(dut, name), inputs[name], rng, valid_prob=valid_prob)
        return testbench

    async def get(ctx):
        got.extend(await stream_get(ctx, getattr(dut, out), count, rng,
                                    ready_prob=ready_prob, cycles=cycles))

    run_testbenches(dut, *(put(name) for name in inputs), get)
    return got, cycles
