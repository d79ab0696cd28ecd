"""A buffer of single-port SRAM banks, one access per bank per cycle."""

import dataclasses

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .params import Params, check_int, param, resolve_params


__all__ = ["BankParams", "BankPort", "BankedBuffer", "is_power_of_two"]


def is_power_of_two(n):
    return n >= 1 and n & (n - 1) == 0


@dataclasses.dataclass(frozen=True)
class BankParams(Params):
    """Parameters of :class:`BankedBuffer`.

    Members
    -------
    banks : int
        ``B`` banks (a power of two, 1 to 64).
    row_bits : int
        Address bits inside a bank (1 to 16): ``2**row_bits`` rows per bank.
    data_width : int
        Bits per row (1 to 256).
    """
    banks: int = param(8, "banks B (a power of two)")
    row_bits: int = param(9, "address bits inside a bank")
    data_width: int = param(32, "bits per word")

    def __post_init__(self):
        check_int("banks", self.banks, min=1, max=64)
        if not is_power_of_two(self.banks):
            raise ValueError(f"parameter 'banks' must be a power of two, not {self.banks!r}")
        check_int("row_bits", self.row_bits, min=1, max=16)
        check_int("data_width", self.data_width, min=1, max=256)

    @property
    def rows(self):
        return 1 << self.row_bits


class BankPort(wiring.Signature):
    """One bank's single port, seen from the side that drives it.

    Members
    -------
    en : Out(1)
        Access this cycle.
    write : Out(1)
        The access writes ``wdata`` (else it reads).
    row : Out(row_bits)
    wdata : Out(data_width)
    rdata : In(data_width)
        The word the latest read returned, from the cycle after it; held until the next read.
    """

    def __init__(self, row_bits, data_width):
        super().__init__({
            "en": Out(1), "write": Out(1), "row": Out(row_bits),
            "wdata": Out(data_width), "rdata": In(data_width),
        })


class BankedBuffer(wiring.Component):
    """``B`` independent single-port banks built on :class:`amaranth.lib.memory.Memory`.

    Each bank performs one access per cycle: a write, or a read whose word
    appears on ``rdata`` the next cycle (read latency 1) and stays there
    until the bank's next read. Both ports of the memory share the one
    address, so synthesis sees a single-port RAM. The banks start cleared.

    Members
    -------
    bank : In(BankPort).array(banks)
        The banks' ports.
    """

    def __init__(self, params=None, **kwargs):
        self.params = params = resolve_params(BankParams, params, kwargs)
        super().__init__({
            "bank": In(BankPort(params.row_bits, params.data_width)).array(params.banks),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        # Kept so that tests can read where each word went after a simulation.
        self.memories = [Memory(shape=p.data_width, depth=p.rows, init=[])
                         for _ in range(p.banks)]
        for b, (port, mem) in enumerate(zip(self.bank, self.memories)):
            m.submodules[f"bank{b}"] = mem
            wp = mem.write_port()
            rp = mem.read_port(domain="sync")
            m.d.comb += [
                wp.addr.eq(port.row), wp.data.eq(port.wdata), wp.en.eq(port.en & port.write),
                rp.addr.eq(port.row), rp.en.eq(port.en & ~port.write),
                port.rdata.eq(rp.data),
            ]
        return m
