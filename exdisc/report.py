"""Plain-text tables for the command line."""

__all__ = ["format_table", "synth_row", "SYNTH_HEADERS"]


def format_table(headers, rows):
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


SYNTH_HEADERS = ["module", "LUT4", "FF", "CCU2C", "MULT18", "gates", "transistors",
                 "depth", "Fmax MHz", "yosys s", "nextpnr s"]


def synth_row(r):
    fmt = lambda s: f"{s:.1f}" if s is not None else "-"
    return [r.module, r.lut4, r.ff, r.ccu2c, r.mult18, r.gates,
            f"{r.transistors}{'' if r.transistors_exact else '+'}", r.logic_depth,
            f"{r.fmax_mhz:.1f}" if r.fmax_mhz is not None else "-",
            fmt(r.seconds.get("yosys")), fmt(r.seconds.get("nextpnr"))]
