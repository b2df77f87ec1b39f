"""Shared fixtures. Tests that need the real training file take
``nsl_kdd_path`` and skip, saying why, where it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import DATA_FILE, generate_rows, model_file_bytes


@pytest.fixture(scope="session")
def model_path(tmp_path_factory) -> Path:
    """A model file with random weights (fp32)."""
    path = tmp_path_factory.mktemp("models") / "random.ebgan"
    path.write_bytes(model_file_bytes(seed=1))
    return path


@pytest.fixture(scope="session")
def nsl_kdd_path() -> Path:
    if not DATA_FILE.is_file():
        pytest.skip(f"the NSL-KDD training file is not at {DATA_FILE}")
    return DATA_FILE


@pytest.fixture
def rows() -> list[list[str]]:
    return generate_rows(50, seed=3)
