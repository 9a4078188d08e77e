"""A local simulator of the vendors' cohort APIs, for tap-cohorts' tests, demo and benchmark.

Built from `shared/vendor-docs/`: the documented auth, windows, row caps, pagination and rate limits, with
deterministic synthetic data from a seed, switchable faults and a log of every request. The tap knows nothing
of it beyond `base_url`.
"""

from cohorts_sandbox.faults import Fault
from cohorts_sandbox.server import RecordedRequest, Sandbox, SandboxConfig, make_simulators

__all__ = ["Fault", "RecordedRequest", "Sandbox", "SandboxConfig", "make_simulators"]
