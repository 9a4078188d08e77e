from __future__ import annotations

from collections.abc import Iterator

import pytest

from cohorts_sandbox import Sandbox, SandboxConfig


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox on a free loopback port, its rate-limit windows 100x faster than the vendors'."""
    with Sandbox(SandboxConfig(time_scale=0.01)) as running:
        yield running
