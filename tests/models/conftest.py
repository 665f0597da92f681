"""Fixtures of the model tests."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """One intra-op thread for the small forwards of the ImageNet networks: on a shared 2-core CPU two
    threads on a tiny batch wait on each other (seconds instead of tens of milliseconds); restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
