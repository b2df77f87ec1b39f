"""Fixtures of the pytest-benchmark suite: one workload and one backend
factory per test run, so models are exported and checked once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import backends as bk
import workload as wl


@pytest.fixture(scope="session")
def factory() -> bk.BackendFactory:
    return bk.BackendFactory(wl.load_workload())


@pytest.fixture(scope="session")
def backend_for(factory):
    """backend_for(name, threads): a checked backend, or a skip naming why not."""
    built: dict[tuple[str, int], bk.Backend | str] = {}

    def get(name: str, threads: int) -> bk.Backend:
        key = (name, threads)
        if key not in built:
            try:
                built[key] = factory.build(name, threads)
            except bk.Unavailable as e:
                built[key] = str(e)
        if isinstance(built[key], str):
            pytest.skip(f"{name}: {built[key]}")
        return built[key]

    return get
