"""Running the suite as if today were another day (`COHORTS_TODAY`), and keeping test servers on the real clock.

tests/conftest.py moves this process's clock with time-machine and every child process's (taps, Meltano,
targets) with Debian's libfaketime, by one offset. The servers the tests start (PostgreSQL, Redis) are
infrastructure, not code under test: they run on the real clock (Redis's allocator clashes with libfaketime)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

TODAY_VARIABLE = "COHORTS_TODAY"
# Debian's package faketime, on any architecture.
LIBFAKETIME = next(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"), Path("/usr/lib/faketime/libfaketime.so.1"))
_FAKETIME_VARIABLES = ("FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC")


def travel_moment(value: str) -> dt.datetime:
    """The UTC moment `COHORTS_TODAY` names: a date means its noon, so a short run never crosses midnight."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{TODAY_VARIABLE}={value!r} is not a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM)"
        ) from None
    if len(value) == 10:
        moment = moment.replace(hour=12)
    return moment.replace(tzinfo=moment.tzinfo or dt.timezone.utc)


def move_child_clocks(offset_seconds: int) -> bool:
    """Every process started from now on runs `offset_seconds` ahead (False: libfaketime is not installed)."""
    if not LIBFAKETIME.exists():
        return False
    preload = [p for p in os.environ.get("LD_PRELOAD", "").split() if p != str(LIBFAKETIME)]
    os.environ["LD_PRELOAD"] = " ".join([*preload, str(LIBFAKETIME)])
    os.environ["FAKETIME"] = f"{offset_seconds:+d}"
    os.environ.pop("FAKETIME_DONT_FAKE_MONOTONIC", None)  # with it, every time.sleep fails with EINVAL
    return True


def real_clock_env() -> dict[str, str]:
    """The environment for a server process: this one's, without libfaketime."""
    env = {k: v for k, v in os.environ.items() if k not in _FAKETIME_VARIABLES}
    preload = [p for p in env.pop("LD_PRELOAD", "").split() if p != str(LIBFAKETIME)]
    if preload:
        env["LD_PRELOAD"] = " ".join(preload)
    return env
