"""The integer non-linear unit against exdisc.golden.nonlinear, word for
word, in the Amaranth simulator (the cocotb sign-off on the emitted Verilog
is tests/test_nonlinear_cocotb.py)."""

import numpy as np
import pytest

from exdisc.golden import nonlinear as gnl
from exdisc.hw import nonlinear as hnl
from exdisc.hw.nonlinear import Error, NonLinearParams, NonLinearUnit, Op
from exdisc.sim.harness.payload import pack, unpack
from exdisc.sim.harness.pysim import run_testbenches
from exdisc.sim.stimulus import nonlinear as stim
from exdisc.sim.testbenches.nonlinear_pysim import run_program, sustained_rate

SMALL = NonLinearParams(lanes=4, max_len=12)
SHAPES = [SMALL, NonLinearParams(lanes=3, max_len=7), NonLinearParams(lanes=1, max_len=3),
          NonLinearParams(lanes=4, max_len=8, exp_index_bits=6, exp_bits=12, prob_bits=6,
                          gelu_frac=7, ln_bits=12, norm_frac=8, out_bits=6, mult_bits=12)]


def _check(got, expect, program):
    rows = [r for r in program for _ in r.out]
    for n, (g, e) in enumerate(zip(got, expect)):
        assert g == e, f"beat {n} ({rows[n].op.name} row of {len(rows[n].values)}): {g} != {e}"
    assert len(got) == len(expect)


@pytest.mark.parametrize("p", [NonLinearParams(), SHAPES[-1]], ids=["default", "narrow"])
def test_tables_match_the_golden_model(p):
    fmt = stim.golden_format(p)
    assert hnl.exp_table(p) == gnl.exp_table(fmt).tolist()
    assert hnl.gelu_table(p) == gnl.gelu_table(fmt).tolist()


@pytest.mark.parametrize("p", SHAPES, ids=lambda p: p.slug())
def test_nonlinear_random_rows(p, seed):
    program = stim.random_program(p, np.random.default_rng(seed), 40)
    _check(*run_program(p, program, seed), program)


@pytest.mark.parametrize("p", [SMALL, NonLinearParams(lanes=2, max_len=64)],
                         ids=lambda p: p.slug())
def test_nonlinear_edge_rows(p, seed):
    """The edge rows; the long ones at two lanes sum more exponentials than
    a beat's adder tree can hold."""
    program = stim.edge_program(p)
    _check(*run_program(p, program, seed), program)


def test_nonlinear_dit_rows(seed):
    p = NonLinearParams(lanes=8, max_len=64)
    program = stim.dit_program(p, rows_per_op=2)
    _check(*run_program(p, program, seed), program)


def test_back_to_back_rows_take_a_beat_per_cycle(seed):
    """Short rows of every operation, mixed, never wait for the pipelines."""
    program = stim.random_program(SMALL, np.random.default_rng(seed), 30)
    rate, ok = sustained_rate(SMALL, program)
    assert ok
    assert rate == 1.0


@pytest.mark.parametrize("cmd, code", [
    ({"op": 6, "length": 4}, Error.BAD_OP), ({"op": 7, "length": 4}, Error.BAD_OP),
    ({"op": Op.GELU.value, "length": 0}, Error.BAD_LENGTH),
    ({"op": Op.SOFTMAX.value, "length": SMALL.max_len + 1}, Error.BAD_LENGTH)])
def test_malformed_command_stops_the_unit(cmd, code):
    """The row before is finished; the bad command sets the sticky code, and
    no beat is taken and nothing written after it."""
    p = SMALL
    good = stim.random_program(p, np.random.default_rng(0), 1)
    bad = {**good[0].cmd, **cmd}
    after = good[0].cmd
    dut = NonLinearUnit(p)
    got = []

    async def drive(ctx):
        for c in (good[0].cmd, bad, after):
            ctx.set(dut.cmd.valid, 1)
            # as bits: an op code the layout's enum has no member for
            ctx.set(dut.cmd.payload.as_value(), pack(p.cmd_layout, c))
            for _ in range(50):
                _, _, ready = await ctx.tick().sample(dut.cmd.ready)
                if ready:
                    break
            else:
                break
        ctx.set(dut.cmd.valid, 0)

    async def beats(ctx):
        for b in stim.beats(p, good) * 2:
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, b)
            for _ in range(50):
                _, _, ready = await ctx.tick().sample(dut.i.ready)
                if ready:
                    got.append(("in", b))
                    break
        ctx.set(dut.i.valid, 0)

    async def out(ctx):
        ctx.set(dut.o.ready, 1)
        for _ in range(400):
            _, _, valid, value = await ctx.tick().sample(dut.o.valid, dut.o.payload.as_value())
            if valid:
                got.append(("out", unpack(p.out_layout, value)))
        got.append(("error", ctx.get(dut.error)))

    run_testbenches(dut, drive, beats, out, max_cycles=1000)
    n_in = len(stim.beats(p, good))
    assert [g for g in got if g[0] == "in"] == [("in", b) for b in stim.beats(p, good)]
    assert [g[1] for g in got if g[0] == "out"] == stim.expected(good)
    assert got[-1] == ("error", code)
    assert n_in == len([g for g in got if g[0] == "in"])


@pytest.mark.parametrize("field, value", [("lanes", 0), ("lanes", 65), ("max_len", 0),
                                          ("exp_bits", 7), ("prob_bits", 1), ("mult_bits", 19)])
def test_nonlinear_params_rejected(field, value):
    with pytest.raises(ValueError, match=repr(field)):
        NonLinearParams(**{field: value})


def test_nonlinear_params_type_checked():
    with pytest.raises(TypeError, match="'lanes'"):
        NonLinearParams(lanes=4.0)


def test_generated_verilog_is_deterministic():
    from exdisc.hw.emit import emit_verilog
    p = NonLinearParams(lanes=2, max_len=8)
    first = emit_verilog(NonLinearUnit(p), "nl")
    assert first == emit_verilog(NonLinearUnit(p), "nl")
    assert "module nl" in first


@pytest.mark.parametrize("frac,bits", [(8, 16), (7, 16), (12, 14), (8, 10), (12, 10)])
def test_gelu_index_of_the_unsaturated_input(frac, bits):
    """GELU's table index, made from the input before its saturation (and,
    where the saturation cannot reach the clamp, from its low bits only), is
    the golden model's ``min(|saturate(u)| >> (gelu_frac - 6), 255)``: around
    zero, the clamp and the saturation, and at random."""
    from amaranth.hdl import Module, Signal, signed
    from amaranth.sim import Simulator
    seed = 5
    print(f"seed {seed}")
    p = NonLinearParams(lanes=4, gelu_frac=frac, gelu_bits=bits)
    m = Module()
    u, index = Signal(signed(40)), Signal(9)
    m.d.comb += index.eq(hnl._gelu_index(p, u))
    edges = [e + d for e in (0, 256 << (frac - 6), 1 << (bits - 1), 1 << 39) for d in (-1, 0, 1)]
    values = np.array([v for e in edges for v in (e, -e)] +
                      list(np.random.default_rng(seed).integers(-(1 << 20), 1 << 20, 300)))
    values = np.clip(values, -(1 << 39), (1 << 39) - 1)
    want = np.minimum(np.abs(gnl.saturate(values, bits)) >> (frac - 6), 255)
    got = []

    async def bench(ctx):
        for v in values:
            ctx.set(u, int(v))
            got.append(ctx.get(index))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    np.testing.assert_array_equal(got, want)
