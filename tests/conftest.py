from __future__ import annotations

from collections.abc import Iterator

import pytest

from cohorts_sandbox import Sandbox, SandboxConfig
from tests.postgres_server import PostgresServer, running_postgres


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox on a free loopback port, its rate-limit windows 100x faster than the vendors'."""
    with Sandbox(SandboxConfig(time_scale=0.01)) as running:
        yield running


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for this test session (as the `postgres` user when the tests run as root)."""
    with running_postgres() as server:
        yield server
