"""`make bench`: ``python -m his_portal.bench [--records N] [--batch N] [--postgres]``.

Parts: ``queries`` (workbench and 签名监控 at ``--records``), ``signing`` (CPU per
record in-process), ``live`` (the running app: a batch through the signing queue,
another user's events meanwhile, the workers' memory, a login flood). Each figure is
one JSON line; the last line sums up which targets were met. Asserts nothing.
"""

from __future__ import annotations

import argparse

from his_portal.bench import live, queries, signing
from his_portal.bench.report import Report

PARTS = ("queries", "signing", "live")
PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m his_portal.bench")
    parser.add_argument(
        "--records", type=int, default=1_000_000, help="rows for queries"
    )
    parser.add_argument("--batch", type=int, default=50, help="live batch size")
    parser.add_argument(
        "--memory-records", type=int, default=1000, help="records for worker memory"
    )
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=PG_URL,
        default="",
        metavar="URL",
        help=f"queries on PostgreSQL too, in a throwaway database ({PG_URL})",
    )
    parser.add_argument("--only", choices=PARTS, action="append", help="run one part")
    args = parser.parse_args()
    report = Report()
    parts = args.only or PARTS
    if "queries" in parts:
        queries.run(report, records=args.records, postgres_url=args.postgres)
    if "signing" in parts:
        signing.run(report)
    if "live" in parts:
        live.run(report, batch=args.batch, memory=args.memory_records)
    print(report.summary())


if __name__ == "__main__":
    main()
