"""Shared configuration of the unit tests.

The tests use small tensors only. With several intra-op threads some PyTorch CPU
kernels (``log_sigmoid`` among them) spend milliseconds per call on thread hand-off on
a busy machine, which makes the Monte Carlo tests hundreds of times slower; one thread
is both fast and deterministic.
"""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def make_generator():
    """``make_generator(seed)``: a fresh CPU ``torch.Generator`` seeded with ``seed``."""

    def make(seed: int) -> torch.Generator:
        return torch.Generator().manual_seed(seed)

    return make
