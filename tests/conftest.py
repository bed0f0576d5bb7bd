"""Shared fixtures: tiny seeded components built in code (as diffusers' own tests do) and the real nano preset."""

import os

import pytest
import torch


# Two cores: more threads than that only makes the tiny models slower.
torch.set_num_threads(min(2, os.cpu_count() or 1))


def pytest_collection_modifyitems(config, items):
    """`gpu` tests need CUDA: skipped (with the reason shown) where there is none, so the suite stays on the CPU."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="gpu: needs a CUDA device (torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def nano_pipes():
    """The real nano preset (MiniLM + SmolLM2 from PyPI packages, shipped or seeded video models); loaded once."""
    from mimir.loading import load_pipelines

    return load_pipelines("nano")
