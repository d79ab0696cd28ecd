"""sim.harness.verilator: cocotb's Verilator build, with only the top module's
signals public (the testbenches drive and read nothing else)."""

from exdisc.sim.harness.verilator import _public_top_only


def test_only_the_top_module_is_public(tmp_path):
    build = tmp_path / "model"
    cocotb_cmd = ["/x/verilator", "-cc", "--exe", "-Mdir", str(build), "--top-module", "dut",
                  "--vpi", "--public-flat-rw", "--prefix", "Vtop", "-o", "dut", "dut.v"]
    cmd = _public_top_only(cocotb_cmd)
    assert "--public-flat-rw" not in cmd
    control = build / "public.vlt"
    assert str(control) in cmd
    # Read before the design's sources, or it would not apply to them.
    assert cmd.index(str(control)) < cmd.index("dut.v")
    assert control.read_text().splitlines() == [
        "`verilator_config", 'public_flat_rw -module "dut" -var "*"']
    assert cocotb_cmd.count("--public-flat-rw") == 1     # the caller's list is left alone


def test_the_control_file_is_rewritten_only_when_it_changes(tmp_path):
    # An unchanged file keeps its time stamp, so make finds the model up to date.
    cmd = ["verilator", "-Mdir", str(tmp_path), "--top-module", "a", "--public-flat-rw",
           "--prefix", "Vtop", "a.v"]
    _public_top_only(cmd)
    control = tmp_path / "public.vlt"
    stamp = control.stat().st_mtime_ns
    _public_top_only(cmd)
    assert control.stat().st_mtime_ns == stamp
    _public_top_only([c if c != "a" else "b" for c in cmd])
    assert '"b"' in control.read_text()
