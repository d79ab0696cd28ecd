"""Hash bank router in the Amaranth simulator: scoreboard against the golden
buffer, bank contents against the golden mapping, latency, fairness, hashes."""

import random
import time

import numpy as np
import pytest

from exdisc.golden.router import strided, uniform
from exdisc.hw.router import HashBankRouter, RouterParams
from exdisc.sim.harness.pysim import run_testbenches
from exdisc.sim.stimulus.router import (RouterTraffic, amaranth_testbench, random_program,
                                        trace_program)


def _run(p, program, rng, seed, dut=None, **probs):
    dut = dut or HashBankRouter(p)
    traffic = RouterTraffic(p, program, rng, seed=seed, **probs)
    bench = amaranth_testbench(dut, traffic)
    mismatches = []

    async def testbench(ctx):
        await bench(ctx)
        # Where every word went: each bank row holds what the golden mapping put there.
        for b, mem in enumerate(dut.buffer.memories):
            for row in range(p.bank_params.rows):
                want = traffic.model.store.get((b, row), 0)
                got = ctx.get(mem.data[row])
                if got != want:
                    mismatches.append((b, row, got, want))

    run_testbenches(dut, testbench, max_cycles=traffic.cycle_limit() + 4 * p.latency)
    assert not mismatches, f"bank contents differ (bank, row, RTL, golden): {mismatches[:4]} (seed {seed})"
    return traffic


CONFIGS = [
    dict(),
    dict(hash="modulo"),
    dict(lanes=1, banks=1, addr_width=6),                                  # one lane, one bank
    dict(lanes=3, banks=2, fifo_depth=1, enqueue_ports=1, outstanding=1,   # B < P, no slack
         return_depth=1, return_ports=1, addr_width=7),
    dict(lanes=3, banks=2, fifo_depth=1, enqueue_ports=3, outstanding=2,   # a queue per lane
         return_depth=1, return_ports=2, addr_width=7),
    dict(lanes=5, banks=4, fifo_depth=2, enqueue_ports=2, outstanding=4, return_ports=4,
         return_depth=4, tag_width=3, data_width=7, addr_width=9),
    dict(lanes=2, banks=16, addr_width=9, enqueue_ports=1, outstanding=2),
]


@pytest.mark.parametrize("kw", CONFIGS, ids=[str(i) for i in range(len(CONFIGS))])
def test_router_random(kw, seed):
    p = RouterParams(**kw)
    rng = random.Random(seed)
    program = random_program(p, rng, 2500, epoch_sizes=(8, 600))
    traffic = _run(p, program, rng, seed)
    assert traffic.checked == sum(len(l) for e in program for l in e) == 2500


class _AliasingRouter(HashBankRouter):
    """A broken hash: OR instead of XOR of the chunks (not a bijection)."""

    def bank_of(self, addr):
        bits = self.params.bank_bits
        return addr[:bits] | addr[bits:2 * bits]


class _ModuloRouter(HashBankRouter):
    """A bijective hash, but not the configured one."""

    def bank_of(self, addr):
        return addr[:self.params.bank_bits]


def test_router_scoreboard_catches_aliasing(seed):
    p = RouterParams()
    rng = random.Random(seed)
    with pytest.raises(AssertionError, match="RTL .* != golden|bank contents differ"):
        _run(p, random_program(p, rng, 2000), rng, seed, dut=_AliasingRouter(p))


def test_router_bank_check_catches_wrong_hash(seed):
    p = RouterParams(hash="xor")
    rng = random.Random(seed)
    with pytest.raises(AssertionError, match="bank contents differ"):
        _run(p, random_program(p, rng, 1000), rng, seed, dut=_ModuloRouter(p))


def test_router_latency():
    p = RouterParams()
    traffic = _run(p, trace_program(p, [[5]] + [[]] * (p.lanes - 1)), random.Random(0), 0,
                   valid_prob=1.0, ready_prob=1.0)
    assert list(traffic.latencies()) == [p.latency]


def test_router_full_rate_without_conflicts():
    # Lane n reads bank n's rows only: one request per lane per cycle after the first.
    p = RouterParams(lanes=4, banks=8, hash="modulo")
    lanes = [[n + 8 * i for i in range(200)] for n in range(4)]
    traffic = _run(p, trace_program(p, lanes), random.Random(0), 0,
                   valid_prob=1.0, ready_prob=1.0)
    assert traffic.rate() == 1.0


@pytest.mark.parametrize("hash", ["modulo", "xor"])
def test_router_stride_of_banks(hash):
    # Every address a multiple of B: one bank under modulo, spread under xor.
    # The one-bank case must still be fair: every lane's wait stays bounded.
    p = RouterParams(lanes=4, banks=8, hash=hash)
    traffic = _run(p, trace_program(p, strided(p.banks, 800, p.lanes, p.addr_width)),
                   random.Random(0), 0, valid_prob=1.0, ready_prob=1.0)
    if hash == "modulo":
        assert traffic.rate() <= 1 / p.lanes + 0.01
        assert traffic.latencies().max() <= p.latency + p.lanes * (2 + p.fifo_depth)
    else:
        assert traffic.rate() >= 0.95


def test_router_backpressure_stalls_one_lane(seed):
    # Lane 0 never takes a response: the other lanes still finish their reads.
    p = RouterParams(lanes=3, banks=4)
    rng = np.random.default_rng(seed)
    lanes = [[]] + uniform(300, 2, p.addr_width, rng)
    traffic = RouterTraffic(p, trace_program(p, lanes), random.Random(seed), seed=seed,
                            valid_prob=1.0, ready_prob=1.0)
    dut = HashBankRouter(p)
    bench = amaranth_testbench(dut, traffic)
    run_testbenches(dut, bench, max_cycles=traffic.cycle_limit() + 4 * p.latency)
    assert traffic.checked == 600


@pytest.mark.parametrize("field, value, error", [
    ("lanes", 0, ValueError), ("lanes", 33, ValueError), ("lanes", 2.0, TypeError),
    ("banks", 6, ValueError), ("banks", 128, ValueError),
    ("addr_width", 3, ValueError), ("addr_width", 20, ValueError),
    ("data_width", 0, ValueError), ("tag_width", 0, ValueError),
    ("hash", "crc", ValueError), ("fifo_depth", 3, ValueError),
    ("enqueue_ports", 33, ValueError), ("enqueue_ports", 0, ValueError),
    ("outstanding", 12, ValueError), ("return_depth", 3, ValueError),
    ("return_ports", 3, ValueError), ("return_ports", True, TypeError),
])
def test_router_params_rejected(field, value, error):
    with pytest.raises(error, match=repr(field)):
        RouterParams(**{field: value})


def test_router_smallest_params():
    assert RouterParams(lanes=1, banks=1, enqueue_ports=1, addr_width=1).row_bits == 1


def test_long_module_names_stay_short_and_distinct():
    from exdisc.hw.units import MAX_MODULE_NAME, get_unit
    unit = get_unit("router")
    points = [RouterParams(), RouterParams(lanes=16, banks=32, addr_width=14),
              RouterParams(lanes=16, banks=32, addr_width=14, hash="modulo"),
              RouterParams(lanes=31, banks=64, addr_width=22, data_width=255, tag_width=15,
                           hash="modulo", fifo_depth=32, enqueue_ports=31, outstanding=64,
                           return_depth=16, return_ports=4)]
    names = [unit.module_name(p) for p in points]
    assert all(len(n) <= MAX_MODULE_NAME and n.isidentifier() for n in names)
    assert len(set(names)) == len(names)
    assert names == [unit.module_name(p) for p in points]       # stable
    # Short parameter lists keep every parameter in the name.
    assert get_unit("lod").module_name(get_unit("lod").params()) == "lod_width16_k2_registered0"


class _OverIssuingRouter(HashBankRouter):
    """A broken router: a lane issues one request more than it has reorder
    slots, overwriting a slot still in flight."""

    def _lane_input(self, m, n, port):
        lane = super()._lane_input(m, n, port)
        lane.can_issue = lane.inflight != self.params.outstanding + 1
        return lane


def test_broken_outstanding_limit_fails_in_seconds(seed):
    """Responses from an overwritten slot are wrong, or never come: the
    scoreboard or the cycle limit fails the run, in seconds."""
    p = RouterParams(lanes=2, banks=2, outstanding=2, hash="modulo", addr_width=6)
    rng = random.Random(seed)
    start = time.monotonic()
    with pytest.raises(AssertionError):
        _run(p, random_program(p, rng, 600, epoch_sizes=(50, 200)), rng, seed,
             dut=_OverIssuingRouter(p), valid_prob=1.0, ready_prob=0.3)
    assert time.monotonic() - start < 60
