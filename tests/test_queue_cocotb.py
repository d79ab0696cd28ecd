"""Sign-off of the emitted StreamQueue Verilog, with the ECP5 block RAMs in
both of their word widths (36 bits up to 512 words, 18 bits deeper)."""

import json

import pytest

from exdisc.hw.platform import ECP5
from exdisc.hw.queue import QueueParams, StreamQueue
from exdisc.sim.harness.runner import run_design


@pytest.mark.cocotb
@pytest.mark.parametrize("params, platform", [
    (QueueParams(width=40, depth=16), ECP5),     # two 36-bit blocks, the second partly used
    (QueueParams(width=20, depth=600), ECP5),    # two 18-bit blocks
    (QueueParams(width=40, depth=16), None),     # the portable memory
], ids=lambda v: v.slug() if isinstance(v, QueueParams) else (v.name if v else "portable"))
def test_queue(params, platform):
    run_design(StreamQueue(params), f"queue_{params.slug()}".replace("-", "_"),
               "exdisc.sim.testbenches.queue", env={"EXDISC_QUEUE": json.dumps(params.as_dict())},
               platform=platform)
