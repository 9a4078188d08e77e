"""Where a vendor's request budget lives, from the `shared_rate_budget` setting.

Unset, the budget is this process's own. A file path puts it in a SQLite file under a file lock, shared by every
process on the machine; a `postgresql://` URL puts it in a PostgreSQL table, shared by processes on any machine
(the server's clock is the one clock). The buckets are pyrate-limiter's; this module only picks one.
"""

from __future__ import annotations

import importlib.util
import os
from urllib.parse import urlsplit

from pyrate_limiter import AbstractBucket, InMemoryBucket, Rate, SQLiteBucket

POSTGRES_SCHEMES = ("postgresql", "postgres")
POSTGRES_EXTRA = "tap-cohorts[postgres-budget]"


def is_postgres(where: str) -> bool:
    return urlsplit(where).scheme in POSTGRES_SCHEMES


def budget_problem(where: str) -> str | None:
    """Why `where` cannot hold a budget, or None."""
    scheme = urlsplit(where).scheme
    if scheme in POSTGRES_SCHEMES:
        missing = [name for name in ("psycopg", "psycopg_pool") if importlib.util.find_spec(name) is None]
        if missing:
            return f"a PostgreSQL budget needs {' and '.join(missing)}: install {POSTGRES_EXTRA}"
        return None
    if "://" in where:
        return f"{scheme}:// is not a budget backend; give a SQLite file path or a postgresql:// URL"
    folder = os.path.dirname(os.path.abspath(where))
    if not os.path.isdir(folder):
        return f"the folder {folder} does not exist"
    return None


def budget_secrets(where: str | None) -> list[str]:
    """The parts of `where` that must never be logged (a database password)."""
    if not where or not is_postgres(where):
        return []
    password = urlsplit(where).password
    return [password] if password else []


def open_bucket(vendor: str, rates: list[Rate], where: str | None) -> AbstractBucket:
    """The bucket holding `vendor`'s recent requests: one per vendor account, keyed by the vendor's name."""
    if not where:
        return InMemoryBucket(rates)
    if is_postgres(where):
        from psycopg_pool import ConnectionPool
        from pyrate_limiter import PostgresBucket

        pool = ConnectionPool(where, min_size=1, max_size=2, open=True)
        return PostgresBucket(pool, f"tap_cohorts_{vendor}", rates)
    return SQLiteBucket.init_from_file(rates, table=f"{vendor}_requests", db_path=where, use_file_lock=True)
