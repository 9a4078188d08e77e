"""A throwaway PostgreSQL server for the end-to-end tests, started by the test run itself.

PostgreSQL refuses to run as root (CI runs as root), so the server runs as the `postgres` user when the tests
run as root. Databases are created and dropped with pytest-postgresql's DatabaseJanitor.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pytest_postgresql.janitor import DatabaseJanitor

from tests.clock import real_clock_env

SEARCH = [f"/usr/lib/postgresql/{version}/bin" for version in (15, 16, 17, 18)]


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str = "postgres"
    password: str = "postgres"

    @contextmanager
    def database(self, name: str) -> Iterator[str]:
        janitor = DatabaseJanitor(user=self.user, host=self.host, port=self.port, dbname=name, password=self.password)
        janitor.init()
        try:
            yield name
        finally:
            janitor.drop()


def binaries() -> Path | None:
    for folder in SEARCH:
        if Path(folder, "pg_ctl").exists():
            return Path(folder)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    bindir = binaries()
    if bindir is None:
        raise RuntimeError(f"PostgreSQL server binaries not found in {SEARCH} nor on PATH")
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    folder = Path(tempfile.mkdtemp(prefix="tap-cohorts-pg-"))
    if as_root:
        shutil.chown(folder, user="postgres")
    data, log = folder / "data", folder / "server.log"
    port = free_port()
    subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
                   check=True, capture_output=True, env=real_clock_env())  # fmt: skip
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"],
                   check=True, capture_output=True, env=real_clock_env())  # fmt: skip
    try:
        yield PostgresServer("127.0.0.1", port)
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            env=real_clock_env(),
        )
        shutil.rmtree(folder, ignore_errors=True)
