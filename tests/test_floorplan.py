"""The DSP floorplan keeps a systolic array's grid on the chip's DSP rows."""

import pytest

from exdisc.synth.floorplan import (_xy, apply_floorplan, dsp_sites, ebr_sites, queue_bels,
                                    systolic_bels)


def _dsp_pes(rows, cols, dsp=None):
    n = rows * cols if dsp is None else dsp
    return [(r, c) for r in range(rows) for c in range(cols) if r * cols + c < n]


def test_sites_of_the_85f():
    dsp, ebr = dsp_sites(), ebr_sites()
    assert sum(len(r) for r in dsp.values()) == 156          # MULT18X18D of LFE5U-85F
    # DP16KD: the part has 208; the sites next to the clock spines are named
    # differently in the tile grid and not offered
    assert 200 <= sum(len(r) for r in ebr.values()) <= 208
    for rows in (dsp, ebr):
        for y, sites in rows.items():
            xs = [_xy(b)[0] for b in sites]
            assert xs == sorted(xs) and len(set(sites)) == len(sites)
            assert all(_xy(b)[1] == y for b in sites)


@pytest.mark.parametrize("rows, cols, dsp", [(4, 4, None), (8, 8, None), (16, 16, 144),
                                             (3, 5, 13), (12, 13, None)])
def test_grid_neighbours_stay_close(rows, cols, dsp):
    pes = _dsp_pes(rows, cols, dsp)
    bels = systolic_bels(pes)
    assert set(bels) == set(pes)
    assert len(set(bels.values())) == len(pes)
    every = {b for r in dsp_sites().values() for b in r}
    assert set(bels.values()) <= every
    for (r, c), bel in bels.items():
        x, y = _xy(bel)
        if (r, c + 1) in bels:                # A moves right: same DSP row, next sites
            x1, y1 = _xy(bels[(r, c + 1)])
            # (11 across the clock spine between two DSP blocks)
            assert y1 == y and 0 < x1 - x <= 11, (r, c, bel, bels[(r, c + 1)])
        if (r + 1, c) in bels:                # B moves down: same column or the next DSP row
            x1, y1 = _xy(bels[(r + 1, c)])
            assert (y1 == y and abs(x1 - x) <= 6) or (y1 > y and abs(x1 - x) <= 11), \
                (r, c, bel, bels[(r + 1, c)])


def test_too_wide_array_is_left_to_nextpnr():
    assert systolic_bels(_dsp_pes(1, 60)) == {}
    assert systolic_bels([]) == {}


def test_queue_sits_between_the_array_rows():
    bels = systolic_bels(_dsp_pes(8, 8))
    sites = queue_bels(8, bels.values())
    assert len(set(sites)) == 8
    ys = {_xy(b)[1] for b in bels.values()}
    (y,) = {_xy(b)[1] for b in sites}
    assert min(ys) < y < max(ys)
    row = ebr_sites()[y]
    first = row.index(sites[0])
    assert list(row[first:first + 8]) == sites               # consecutive sites
    xs = [_xy(b)[0] for b in bels.values()]
    mid = sum(_xy(b)[0] for b in sites) / 8
    assert abs(mid - sum(xs) / len(xs)) < 10


def _netlist(prefixes, rows=4, cols=4, brams=3):
    cells = {"inner.other": {"type": "TRELLIS_FF", "attributes": {}}}
    for p in prefixes:
        for r, c in _dsp_pes(rows, cols):
            cells[f"{p}pe{r}_{c}_dsp"] = {"type": "MULT18X18D", "attributes": {}}
        for n in range(brams):
            cells[f"{p}queue.bram{n}"] = {"type": "DP16KD", "attributes": {}}
    return {"modules": {"wrapped": {"cells": cells}, "DP16KD": {"cells": {}}}}


def test_apply_sets_bel_attributes():
    netlist = _netlist(["inner."])
    assert apply_floorplan(netlist, "wrapped") == 16 + 3
    cells = netlist["modules"]["wrapped"]["cells"]
    bels = systolic_bels(_dsp_pes(4, 4))
    for (r, c), bel in bels.items():
        assert cells[f"inner.pe{r}_{c}_dsp"]["attributes"]["BEL"] == bel
    placed = [cells[f"inner.queue.bram{n}"]["attributes"]["BEL"] for n in range(3)]
    assert placed == queue_bels(3, bels.values())
    assert "BEL" not in cells["inner.other"]["attributes"]


def test_apply_leaves_two_arrays_alone():
    netlist = _netlist(["inner.a.", "inner.b."])
    assert apply_floorplan(netlist, "wrapped") == 0
    assert not any("BEL" in c["attributes"]
                   for c in netlist["modules"]["wrapped"]["cells"].values())
