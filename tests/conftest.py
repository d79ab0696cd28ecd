import os
import random

import pytest


@pytest.fixture
def seed(request):
    """Seed of a randomized test: ``EXDISC_SEED`` or a fresh one, printed so
    that a failure can be replayed (pytest shows it with the failure)."""
    value = int(os.environ.get("EXDISC_SEED", random.randrange(1 << 32)))
    print(f"\n[{request.node.nodeid}] seed={value} (replay with EXDISC_SEED={value})")
    return value
