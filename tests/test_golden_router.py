"""Golden model of the router: the mapping, the buffer model and the traces."""

import numpy as np
import pytest

from exdisc.golden import router as gr


@pytest.mark.parametrize("hash", gr.HASHES)
@pytest.mark.parametrize("banks, addr_width", [(1, 4), (2, 5), (8, 11), (32, 14), (64, 13)])
def test_mapping_is_a_bijection(hash, banks, addr_width):
    addrs = np.arange(1 << addr_width)
    bank, row = gr.bank_of(addrs, banks, hash), gr.row_of(addrs, banks)
    assert bank.min() >= 0 and bank.max() < banks
    assert len(set(zip(bank.tolist(), row.tolist()))) == len(addrs)
    assert np.array_equal(gr.address_of(bank, row, banks, hash), addrs)


def test_hash_definitions():
    # The spec's definitions, written out bit by bit for B = 8 (3-bit chunks).
    for a in range(1 << 11):
        chunks = [(a >> s) & 7 for s in range(0, 11, 3)]
        assert gr.bank_of(a, 8, "modulo") == chunks[0]
        assert gr.bank_of(a, 8, "xor") == chunks[0] ^ chunks[1] ^ chunks[2] ^ chunks[3]
        assert gr.row_of(a, 8) == a >> 3


def test_strides_of_banks_spread_only_under_xor():
    addrs = np.arange(0, 32 * 256, 32)
    assert len(set(gr.bank_of(addrs, 32, "modulo").tolist())) == 1
    assert np.bincount(gr.bank_of(addrs, 32, "xor"), minlength=32).max() <= 256 // 32 * 2


def test_buffer_model_matches_flat_memory(seed):
    rng = np.random.default_rng(seed)
    for hash in gr.HASHES:
        model = gr.BankedBufferModel(16, hash, addr_width=10, data_width=16)
        flat = {}
        for _ in range(5000):
            a = int(rng.integers(0, 1 << 10))
            if rng.random() < 0.5:
                d = int(rng.integers(0, 1 << 16))
                flat[a] = d
                assert model.access(1, a, d) == d
            else:
                assert model.access(0, a) == flat.get(a, 0)


def test_buffer_model_rejects_bad_requests():
    model = gr.BankedBufferModel(8, "xor", addr_width=6, data_width=4)
    with pytest.raises(ValueError, match="addr"):
        model.access(0, 64)
    with pytest.raises(ValueError, match="data"):
        model.access(1, 3, 16)
    with pytest.raises(ValueError, match="hash"):
        gr.BankedBufferModel(8, "crc")
    with pytest.raises(ValueError, match="banks"):
        gr.bank_of(3, 6)


def test_pattern_generators():
    lanes = gr.gather([5, 9, 2], row_words=4, lanes=2)
    assert lanes == [[20, 21, 22, 23, 8, 9, 10, 11], [36, 37, 38, 39]]
    s = gr.strided(48, 6, 4, addr_width=7)
    assert s == [[0, 64], [48, 112], [96], [16]]
    u = gr.uniform(10, 3, 5, np.random.default_rng(0))
    assert len(u) == 3 and all(len(x) == 10 and max(x) < 32 for x in u)
    assert gr.bank_loads([[0, 8, 16], [1]], 8, "modulo").tolist() == [3, 1, 0, 0, 0, 0, 0, 0]


def test_real_gathers():
    from exdisc.golden.trace import fresh_tokens, kept_keys
    fresh = fresh_tokens()
    rows = gr.ctr_rows(fresh, 256)
    reused = [s for s in fresh if len(fresh[s]) < 256]
    assert reused and len(rows) == sum(len(fresh[s]) for s in reused)
    ctr = gr.ctr_gather(4, 16)
    assert sum(map(len, ctr)) == 16 * len(rows)
    assert all(0 <= a < 256 * 16 for lane in ctr for a in lane)
    kept = kept_keys()
    st = gr.st_gather(4, 4, queries=8)
    assert sum(map(len, st)) == 4 * len(gr.st_rows(kept, 8))
    assert gr.st_gather(4, 4, queries=8, limit=10) == [lane[:10] for lane in st]
