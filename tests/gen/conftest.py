"""Shared fixtures for the diffusion tests: the tiny pipelines, and one torch thread."""

import pytest
import torch

from vj.gen.tiny import tiny_sd, tiny_sdxl


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy 2-core machine they stall."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sd():
    return tiny_sd()


@pytest.fixture(scope="module")
def sdxl():
    return tiny_sdxl()
