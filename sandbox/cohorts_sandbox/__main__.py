"""Run the sandbox standalone: `cohorts-sandbox --port 8787` (or `python -m cohorts_sandbox`)."""

from __future__ import annotations

import argparse
import datetime as dt
import json

from cohorts_sandbox.server import Sandbox, SandboxConfig


def main() -> None:
    parser = argparse.ArgumentParser(description="Local simulator of the cohort vendors' APIs.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-scale", type=float, default=1.0, help="0.01 runs rate-limit windows 100x faster")
    parser.add_argument(
        "--today", type=dt.date.fromisoformat, default=None, help="the vendors' today (default: the clock's UTC date)"
    )
    parser.add_argument("--applovin-countries", type=int, default=5)
    parser.add_argument("--appsflyer-cardinality", type=json.loads, default=None, help='e.g. {"pid": 4, "geo": 5}')
    parser.add_argument("--branch-cardinality", type=json.loads, default=None, help='e.g. {"data_country_code": 12}')
    parser.add_argument(
        "--braze-counts", type=json.loads, default=None, help='objects per kind, e.g. {"segments": 50000}'
    )
    parser.add_argument(
        "--braze-answer-cache",
        type=json.loads,
        default=False,
        help="true: a Braze data series answer is built once and kept for the same request again (benchmarks)",
    )
    args = parser.parse_args()
    config = SandboxConfig(
        seed=args.seed, time_scale=args.time_scale, applovin_countries=args.applovin_countries, today=args.today
    )
    config.braze_answer_cache = bool(args.braze_answer_cache)
    if args.appsflyer_cardinality:
        config.appsflyer_cardinality = args.appsflyer_cardinality
    if args.branch_cardinality:
        config.branch_cardinality = args.branch_cardinality
    for kind, count in (args.braze_counts or {}).items():
        if not hasattr(config, f"braze_{kind}"):
            parser.error(f"--braze-counts: no Braze object kind {kind!r}")
        setattr(config, f"braze_{kind}", int(count))
    sandbox = Sandbox(config, host=args.host, port=args.port)
    vendors = ", ".join(sorted(sandbox.simulators))
    print(f"cohorts-sandbox listening on http://{args.host}:{sandbox.port} (vendors: {vendors})", flush=True)
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
