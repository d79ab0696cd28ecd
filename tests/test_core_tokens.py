"""The core's token counters: with a compiled block's tokens, every
conflict between two queues' descriptors is ordered in cycles."""

import numpy as np
import pytest

from exdisc.golden import core as gcore, core_compile as cc
from exdisc.golden.core_isa import QUEUE_OF, Op, Queue, decode, encode, tokens
from exdisc.golden.dit import DiT
from exdisc.golden.dit_config import DiTConfig
from exdisc.hw.core.params import CoreParams
from exdisc.sim.testbenches.core_tokens import run_queues


def _block_program():
    cfg = DiTConfig(image_size=8, patch=2, hidden=16, depth=1, heads=4)
    model = DiT.random(cfg, seed=3, std=0.3)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, cfg.tokens, cfg.hidden)).astype(np.float32)
    c = rng.standard_normal((1, cfg.hidden)).astype(np.float32)
    small = gcore.CoreConfig(width=64, act_rows=128, wgt_rows=128, acc_rows=256, mask_rows=32,
                             max_len=64, dram_bytes=1 << 13)
    return cc.compile_block(model, 0, x, c, small, chunk_rows=4).program


@pytest.mark.parametrize("depth", [2, 8])
def test_compiled_block_runs_in_dependency_order(depth):
    """Every descriptor runs, and each starts after every earlier descriptor
    of another queue whose footprint conflicts with its own has ended (in a
    later cycle than its ``done``)."""
    program = _block_program()
    seed = 11 + depth
    print(f"seed {seed}")
    times = run_queues(CoreParams(width=64, max_len=64, token_depth=depth), program, seed)
    assert sorted(times) == list(range(len(program)))
    decoded = [decode(w) for w in program]
    prints = [gcore.footprint(op, f) for op, f in decoded]
    checked = 0
    for i in range(len(program)):
        for j in range(i):
            if QUEUE_OF[decoded[i][0]] == QUEUE_OF[decoded[j][0]]:
                continue
            (ri, wi), (rj, wj) = prints[i], prints[j]
            if any(gcore.overlap(a, b) for a in wj for b in ri + wi) or \
                    any(gcore.overlap(a, b) for a in rj for b in wi):
                assert times[i][0] > times[j][1], (j, i)
                checked += 1
    assert checked > len(program)
    _room_kept(decoded, times, depth)


def _room_kept(decoded, times, depth):
    """No pair ever holds more tokens, given or promised, than it has room
    for: pushes started minus pops started, cycle by cycle."""
    for a in Queue:
        for b in Queue:
            events = []
            for i, (op, f) in enumerate(decoded):
                if QUEUE_OF[op] == a and f["push"] >> int(b) & 1:
                    events.append((times[i][0], 1))
                if QUEUE_OF[op] == b and f["pop"] >> int(a) & 1:
                    events.append((times[i][0], -1))
            held = 0
            for _, step in sorted(events):
                held += step
                assert held <= depth, (a, b)


def test_a_full_pair_holds_the_giver():
    """Six loads each giving a store a token, two tokens of room: the loads
    wait for the stores, which take their time."""
    program = [encode(Op.LOAD, buffer=0, rows=1, cols=1, push=tokens(Queue.STORE))] * 6 + \
              [encode(Op.STORE, buffer=0, rows=1, cols=1, pop=tokens(Queue.LOAD))] * 6
    times = run_queues(CoreParams(token_depth=2), program, 4, longest=12)
    assert sorted(times) == list(range(12))
    _room_kept([decode(w) for w in program], times, 2)


def test_too_shallow_token_queues_stop_as_the_golden_model_does():
    """With one token per pair this program deadlocks in the golden model
    (a load's tokens wait for their takers behind others); the counters hold
    the queues the same way, never letting a push overflow. (The queues here
    hold every descriptor, as the golden model's deepest queues do.)"""
    program = _block_program()
    cfg = gcore.CoreConfig(width=64, act_rows=128, wgt_rows=128, acc_rows=256, mask_rows=32,
                           max_len=64, dram_bytes=1 << 13, token_depth=1, queue_depth=64)
    golden = gcore.run(program, np.zeros(cfg.dram_bytes, np.uint8), cfg)
    assert golden.error == gcore.Error.DEADLOCK
    times = run_queues(CoreParams(width=64, max_len=64, token_depth=1), program, 9,
                       max_cycles=400)
    assert golden.index not in times and len(times) < len(program)


def test_a_token_never_given_holds_the_queue():
    program = [encode(Op.GEMM, m=1, n=1, k=1, pop=tokens(Queue.VECTOR)),
               encode(Op.SET, push=tokens(Queue.LOAD))]
    times = run_queues(CoreParams(), program, 5, max_cycles=50)
    assert sorted(times) == [1]


def test_own_queue_bits_are_never_ready():
    program = [encode(Op.SET, pop=tokens(Queue.VECTOR))]
    assert run_queues(CoreParams(), program, 6, max_cycles=30) == {}
