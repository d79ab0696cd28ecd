"""ConMerge's first-fit policy (golden): schedules are exact covers of the mask,
and the degenerate masks give the schedules they must."""

import numpy as np
import pytest

from exdisc.golden.conmerge import (IDLE, bound_passes, check_schedule, compare_schedules,
                                    row_bound_passes, passes_condensed, passes_dense, schedule)


@pytest.mark.parametrize("rows, cols, lanes", [(4, 4, 2), (8, 8, 4), (16, 16, 2), (3, 5, 3)])
def test_random_masks_are_covered_exactly(rows, cols, lanes, seed):
    rng = np.random.default_rng(seed)
    for density in (0.02, 0.1, 0.3, 0.7):
        mask = rng.random((rows, 4 * cols + 3)) < density
        passes = schedule(mask, cols, lanes)
        check_schedule(mask, passes, cols, lanes)
        assert bound_passes(mask, rows, cols) <= len(passes) <= passes_condensed(mask, cols) + 1
        # First fit: a pass is emitted only when the next column fits none of its slots.
        order = [j for p in passes for s in p for j in s.columns]
        assert sorted(order) == [j for j in range(mask.shape[1]) if mask[:, j].any()]


def test_merge_lanes_one_is_condense_only(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((8, 50)) < 0.1
    passes = schedule(mask, 8, 1)
    assert len(passes) == passes_condensed(mask, 8)
    assert all(len(s.columns) == 1 for p in passes for s in p)


def test_degenerate_masks():
    zero = np.zeros((8, 20), dtype=bool)
    assert schedule(zero, 4, 2) == []
    one = np.ones((8, 20), dtype=bool)
    passes = schedule(one, 4, 4)
    assert len(passes) == passes_dense(one, 4) == 5
    assert all(s.conflict == [0] * 8 for p in passes for s in p)
    column = np.zeros((8, 20), dtype=bool)
    column[:, 7] = True
    (only,) = schedule(column, 4, 2)
    assert [s.columns for s in only] == [[7]]
    row = np.zeros((1, 20), dtype=bool)
    row[0, ::3] = True          # one row: no two columns are disjoint
    passes = schedule(row, 4, 4)
    assert sum(len(p) for p in passes) == 7


def test_disjoint_columns_merge():
    mask = np.zeros((4, 6), dtype=bool)
    for j in range(6):
        mask[j % 4, j] = True   # columns 0..3 disjoint; 4 overlaps 0, 5 overlaps 1
    (p,) = schedule(mask, 2, 4)
    assert [s.columns for s in p] == [[0, 1, 2, 3], [4, 5]]
    assert p[0].conflict == [0, 1, 2, 3] and p[1].conflict == [0, 1, IDLE, IDLE]


def test_compare_schedules_orders(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((32, 64)) < 0.1
    r = compare_schedules(mask, 8, 8, lanes=(2, 4))
    for d in (2, 4):
        assert (r["bound"]["passes"] <= r[f"merged_d{d}"]["passes"]
                <= r["condensed"]["passes"] <= r["dense"]["passes"])
    assert r["dense"]["utilisation"] == pytest.approx(mask.mean())


def test_bad_input():
    with pytest.raises(ValueError, match="mask"):
        schedule(np.zeros(4), 4, 2)
    with pytest.raises(ValueError, match="lanes"):
        schedule(np.zeros((2, 2)), 4, 0)


def test_row_bound_is_a_lower_bound(seed):
    """No schedule beats the row bound, and one dense row raises it above
    ceil(bits / (R C))."""
    rng = np.random.default_rng(seed)
    for _ in range(20):
        mask = rng.random((8, 64)) < rng.uniform(0.02, 0.4)
        for lanes in (1, 2, 4, 8):
            assert row_bound_passes(mask, 8, 8) <= len(schedule(mask, 8, lanes))
    mask = np.zeros((8, 64), bool)
    mask[2, :33] = True
    assert bound_passes(mask, 8, 8) == 1 and row_bound_passes(mask, 8, 8) == 5
    assert len(schedule(mask, 8, 8)) == 5
