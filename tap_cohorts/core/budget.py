"""Where a vendor's request budget lives, from the `shared_rate_budget` setting.

Unset, the budget is this process's own. A file path puts it in a SQLite file under a file lock, shared by every
process on the machine; a `postgresql://` URL puts it in a PostgreSQL table (the server's clock is the one clock)
and a `redis://` URL in a Redis sorted set (each process's clock: keep the machines on NTP), shared by processes on
any machine. The buckets are pyrate-limiter's; this module only picks one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pyrate_limiter import AbstractBucket, InMemoryBucket, Rate, SQLiteBucket

if TYPE_CHECKING:
    from redis import Redis

POSTGRES_SCHEMES = ("postgresql", "postgres")
REDIS_SCHEMES = ("redis", "rediss")
# What each shared backend needs installed: (its name, the modules, the extra that brings them).
BACKENDS = {
    **{
        scheme: ("PostgreSQL", ("psycopg", "psycopg_pool"), "tap-cohorts[postgres-budget]")
        for scheme in POSTGRES_SCHEMES
    },
    **{scheme: ("Redis", ("redis",), "tap-cohorts[redis-budget]") for scheme in REDIS_SCHEMES},
}


def budget_problem(where: str) -> str | None:
    """Why `where` cannot hold a budget, or None."""
    scheme = urlsplit(where).scheme
    if scheme in BACKENDS:
        backend, modules, extra = BACKENDS[scheme]
        missing = [name for name in modules if importlib.util.find_spec(name) is None]
        if missing:
            return f"a {backend} budget needs {' and '.join(missing)}: install {extra}"
        return None
    if "://" in where:
        return f"{scheme}:// is not a budget backend; give a SQLite file path, a postgresql:// or a redis:// URL"
    folder = os.path.dirname(os.path.abspath(where))
    if not os.path.isdir(folder):
        return f"the folder {folder} does not exist"
    return None


def budget_secrets(where: str | None) -> list[str]:
    """The parts of `where` that must never be logged (a database password)."""
    if not where or urlsplit(where).scheme not in BACKENDS:
        return []
    password = urlsplit(where).password
    return [password] if password else []


def account_budget_name(vendor: str, credentials: list[str]) -> str:
    """One budget per vendor account: named by the vendor and a digest of the account's credential, so two
    accounts given the same place never throttle each other (the digest does not reveal the credential)."""
    digest = hashlib.sha256("\0".join(credentials).encode()).hexdigest()[:12]
    return f"{vendor}_{digest}"


def open_bucket(name: str, rates: list[Rate], where: str | None) -> AbstractBucket:
    """The bucket holding one account's recent requests, in memory or in the shared place `where`."""
    if not where:
        return InMemoryBucket(rates)
    scheme = urlsplit(where).scheme
    if scheme in REDIS_SCHEMES:
        from redis import Redis

        return redis_bucket(rates, Redis.from_url(where), f"tap_cohorts:{name}")
    if scheme in POSTGRES_SCHEMES:
        from psycopg_pool import ConnectionPool
        from pyrate_limiter import PostgresBucket

        pool = ConnectionPool(where, min_size=1, max_size=2, open=True)
        return PostgresBucket(pool, f"tap_cohorts_{name}", rates)
    return SQLiteBucket.init_from_file(rates, table=f"requests_{name}", db_path=where, use_file_lock=True)


# pyrate-limiter's Redis script counts a window's requests up to the asking request's own timestamp. A process that
# read its clock before another's request went in does not count that one (a later timestamp), and both are let go
# for one slot: a 429 from the vendor (seen in CI under load; its SQLite and PostgreSQL buckets count to the end).
# The bucket here runs the same script counting to the end of the set (tests/test_scale.py checks it does: a
# release that words the line otherwise runs as released until this follows it).
COUNT_TO_OWN_TIMESTAMP = "redis.call('ZCOUNT', bucket, window_start, now)"
COUNT_TO_THE_END = "redis.call('ZCOUNT', bucket, window_start, '+inf')"


def redis_bucket(rates: list[Rate], client: Redis, key: str) -> AbstractBucket:
    """pyrate-limiter's RedisBucket, with its script counting every request recorded in the window."""
    from pyrate_limiter import RedisBucket
    from pyrate_limiter.buckets.redis_bucket import LuaScript

    script = LuaScript.PUT_ITEM.replace(COUNT_TO_OWN_TIMESTAMP, COUNT_TO_THE_END)
    return RedisBucket(rates, client, key, client.script_load(script))
