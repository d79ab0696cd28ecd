"""External memory as the core sees it: reads and writes of byte runs,
carried in beats of the bus width (the host side of the core's load and
store streams, for the Amaranth-simulator and the cocotb testbenches)."""

from collections import deque

import numpy as np


__all__ = ["ExternalMemory"]


class ExternalMemory:
    """``dram`` (a copy) served to the core: each load command ``(addr,
    nbytes)`` is answered by ``ceil(nbytes / bus)`` beats, in order, the last
    one padded with zeros; each store command takes as many beats and writes
    its first ``nbytes`` bytes at ``addr``.

    Members
    -------
    mem : numpy.ndarray
        The bytes, changed by the stores.
    """

    def __init__(self, dram, bus):
        self.mem = np.array(dram, dtype=np.uint8, copy=True)
        self.bus = bus
        self._loads = deque()           # beats owed, per command, in order
        self._stores = deque()          # (addr, nbytes) of commands without their beats
        self._got = bytearray()

    def load_command(self, addr, nbytes):
        raw = bytes(self.mem[addr:addr + nbytes])
        self._loads.append(deque(int.from_bytes(raw[at:at + self.bus], "little")
                                 for at in range(0, max(nbytes, 1), self.bus)))

    def next_load_beat(self):
        """The next beat owed to the core, or None."""
        return self._loads[0][0] if self._loads else None

    def load_beat_taken(self):
        self._loads[0].popleft()
        if not self._loads[0]:
            self._loads.popleft()

    def store_command(self, addr, nbytes):
        self._stores.append((addr, nbytes))

    def store_beat(self, beat):
        if not self._stores:
            raise AssertionError("a store beat before its command")
        self._got += int(beat).to_bytes(self.bus, "little")
        addr, nbytes = self._stores[0]
        if len(self._got) >= nbytes:
            self.mem[addr:addr + nbytes] = np.frombuffer(bytes(self._got[:nbytes]), np.uint8)
            self._stores.popleft()
            self._got.clear()
