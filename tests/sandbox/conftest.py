"""Sandbox pools shared by the attack tests of one module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox import SandboxPool

from .support import LIMITS


@pytest.fixture(scope="module")
def pool() -> Iterator[SandboxPool]:
    """Two processes: while one killed by an attack is replaced, the other answers."""
    with SandboxPool(size=2, limits=LIMITS) as started:
        yield started


@pytest.fixture
def one_process_pool() -> Iterator[SandboxPool]:
    """One process, so consecutive runs share it: what one run leaves, the next one meets."""
    with SandboxPool(size=1, limits=LIMITS) as started:
        yield started
