from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from cohorts_sandbox import Sandbox, SandboxConfig
from tests.clock import LIBFAKETIME, TODAY_VARIABLE, move_child_clocks, travel_moment
from tests.postgres_server import PostgresServer, running_postgres


@pytest.fixture(autouse=True)
def tap_log_level_restored() -> Iterator[None]:
    """A test that quiets the tap's logger (the long simulations do) leaves it as it was: a later test in the same
    worker reads the tap's INFO lines (the cap split, the progress lines)."""
    logger = logging.getLogger("tap-cohorts")
    level = logger.level
    yield
    logger.setLevel(level)


# A SQL query against a warehouse the tests load: its rows.
Query = Callable[[str], list[tuple[Any, ...]]]

TRAVEL_KEY = pytest.StashKey[dt.datetime]()

# Modules whose tests run Meltano (or its dbt utilities) in this checkout: they share its .meltano/ (the plugins'
# run directories, dbt's target paths), so under pytest-xdist (make test: two workers) they run on one worker,
# one after another, while every other test runs on the other.
RUNS_MELTANO_HERE = {
    "test_demo.py",
    "test_orchestration.py",
    "test_partitions.py",
    "test_transform.py",
    "test_warehouse_truth.py",
    "test_warehouses.py",
}


def pytest_configure(config: pytest.Config) -> None:
    """Before any test module is imported (tests.helpers reads today once): if COHORTS_TODAY is set, travel
    this process's clock there with time-machine (the in-process sandbox and tap see that day) and every child
    process's with libfaketime, by one offset, so all of them agree to the second."""
    value = os.environ.get(TODAY_VARIABLE)
    if not value:
        return
    import time_machine

    try:
        moment = travel_moment(value)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    move_child_clocks(round((moment - dt.datetime.now(dt.timezone.utc)).total_seconds()))
    traveller = time_machine.travel(moment, tick=True)
    traveller.start()
    config.add_cleanup(traveller.stop)
    config.stash[TRAVEL_KEY] = moment


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own, which reads the group into each test's id
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in RUNS_MELTANO_HERE:
            item.add_marker(pytest.mark.xdist_group("meltano"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Under --dist=loadgroup, pytest-xdist writes each test's group into its id; a test of RUNS_MELTANO_HERE
    without it would run beside another Meltano run (as with pytest 9.2, which keeps ids elsewhere): stop."""
    if getattr(session.config.option, "loadgroup", False):
        loose = [i.nodeid for i in session.items if i.path.name in RUNS_MELTANO_HERE and "@meltano" not in i.nodeid]
        if loose:
            raise pytest.UsageError(f"pytest-xdist did not group {loose[0]} (and {len(loose) - 1} more) with Meltano's")


def pytest_report_header(config: pytest.Config) -> str:
    moment = config.stash.get(TRAVEL_KEY, None)
    if moment is None:
        return f"today: {dt.datetime.now(dt.timezone.utc).date()} (the real date; {TODAY_VARIABLE} moves it)"
    children = "moved by libfaketime" if LIBFAKETIME.exists() else "NOT moved (install Debian's faketime)"
    return f"today: {moment.date()} ({TODAY_VARIABLE}={os.environ[TODAY_VARIABLE]}; child processes {children})"


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


@pytest.fixture
def postgres(postgres_server: PostgresServer) -> Iterator[tuple[dict[str, str], Query]]:
    """A fresh database on the session's server: target-postgres's settings as environment, and a query on it."""
    with postgres_server.database("cohorts_e2e") as name:
        env = {
            "TARGET_POSTGRES_HOST": postgres_server.host,
            "TARGET_POSTGRES_PORT": str(postgres_server.port),
            "TARGET_POSTGRES_USER": postgres_server.user,
            "TARGET_POSTGRES_PASSWORD": postgres_server.password,
            "TARGET_POSTGRES_DATABASE": name,
        }

        def query(sql: str) -> list[tuple[Any, ...]]:
            with psycopg.connect(
                host=postgres_server.host, port=postgres_server.port, user=postgres_server.user, dbname=name
            ) as connection:
                return connection.execute(sql).fetchall()

        yield env, query
