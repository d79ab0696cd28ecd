"""Pin wrapper for place and route: measure the logic, not the pads.

Every input bit of the wrapped unit comes from a holding register, loaded in
parallel from a shift register fed by one pin (``sin``) when ``load`` is
high; every output bit is captured in a second register that loads in
parallel when ``load`` is high and otherwise shifts out on one pin
(``sout``). The holding register matters: fed straight from the shift
register, the unit's own input pipeline (the systolic array's skew
registers) is bit for bit a copy of the shift register, yosys merges the
two, and the unit then reads its operands from wrapper flip-flops across the
chip. Between the holding register and the unit, and between the unit and
the capture register, sits one more register per bit with no other load:
nextpnr puts it next to the unit, as a real neighbour's register would be,
where the holding and capture registers are pulled along their shift
chains (the 8 x 8 engine's ``o.ready`` came from a holding register 19
columns away, 3.8 ns of route, and set its Fmax). The unit then sits
between registers on all sides, so nextpnr's Fmax is the unit's own
register-to-register (or input-to-output) delay, whatever its port count,
and the design needs five pins (``clk``, ``rst``, ``sin``, ``load``,
``sout``). The wrapper's cost is three flip-flops per input bit, two per
output bit and one LUT per output bit; the report states it.
"""

from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


__all__ = ["PinWrapper"]


class PinWrapper(wiring.Component):
    """Serial-in, serial-out register wrapper around a component.

    Members
    -------
    sin : In(1)
        Serial input shifted into the input register chain.
    load : In(1)
        Capture the unit's outputs in the output register (else shift).
    sout : Out(1)
        Serial output of the output register.
    """

    def __init__(self, inner):
        self.inner = inner
        self.input_bits = 0
        self.output_bits = 0
        for _path, member, value in inner.signature.flatten(inner):
            if member.flow == In:
                self.input_bits += len(Value.cast(value))
            else:
                self.output_bits += len(Value.cast(value))
        super().__init__({"sin": In(1), "load": In(1), "sout": Out(1)})

    def describe(self):
        return (f"serial-in/serial-out register wrapper: {self.input_bits} input bits "
                f"(shift, holding and stage register) and {self.output_bits} output bits "
                f"(stage and capture register; {3 * self.input_bits + 2 * self.output_bits} FFs, "
                f"{self.output_bits} capture muxes)")

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = self.inner
        inputs, outputs = [], []
        for _path, member, value in inner.signature.flatten(inner):
            (inputs if member.flow == In else outputs).append(Value.cast(value))
        if inputs:
            shift_in = Signal(self.input_bits)
            hold = Signal(self.input_bits)
            stage_in = Signal(self.input_bits)
            m.d.sync += shift_in.eq(Cat(self.sin, shift_in[:-1]))
            with m.If(self.load):
                m.d.sync += hold.eq(shift_in)
            m.d.sync += stage_in.eq(hold)
            offset = 0
            for value in inputs:
                m.d.comb += value.eq(stage_in[offset:offset + len(value)])
                offset += len(value)
        if outputs:
            stage_out = Signal(self.output_bits)
            m.d.sync += stage_out.eq(Cat(*outputs))
            capture = Signal(self.output_bits)
            with m.If(self.load):
                m.d.sync += capture.eq(stage_out)
            with m.Else():
                m.d.sync += capture.eq(capture[1:])
            m.d.comb += self.sout.eq(capture[0])
        return m
