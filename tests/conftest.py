"""Shared fixtures: tiny seeded components built in code (as diffusers' own tests do) and the real nano preset."""

import os

import pytest
import torch


# Two cores: more threads than that only makes the tiny models slower.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def nano_pipes():
    """The real nano preset (MiniLM + SmolLM2 from PyPI packages, shipped or seeded video models); loaded once."""
    from mimir.presets import load_pipelines

    return load_pipelines("nano")
