"""`make bench`'s query part at a small record count on SQLite: every line it prints
is a JSON figure, and the summary line sums them up (no timings are judged here)."""

from __future__ import annotations

import io
import json

from his_portal.bench import queries
from his_portal.bench.report import Report
from his_portal.services import audit
from tests.conftest import AUDIT_KEY

FIELDS = {"name", "value", "unit", "target", "met"}


def test_the_query_bench_prints_json_figures_and_a_summary():
    out = io.StringIO()
    report = Report(out=out)
    try:
        queries.run(report, records=3_000, postgres_url="")
    finally:
        audit.configure(AUDIT_KEY)  # the bench uses a throwaway key of its own
    lines = out.getvalue().splitlines()
    figures = [json.loads(line) for line in lines]
    assert len(figures) == len(report.figures) > 40
    for figure in figures:
        assert set(figure) == FIELDS
        assert figure["name"].startswith("sqlite · ")
        assert isinstance(figure["value"], int | float) and figure["unit"] in (
            "ms",
            "s",
        )
        assert figure["target"] in (None, f"<= {queries.TARGET_MS}")
    names = [figure["name"] for figure in figures]
    assert names[0] == "sqlite · load 3000 records"
    assert "sqlite · workbench · doctor 365 days page 50 (keyset) · p95" in names
    assert "sqlite · 签名监控 chain 30 days · 超期未签 page 50 (keyset) · p95" in names
    summary = report.summary()
    targeted = sum(figure["target"] is not None for figure in figures)
    assert summary.startswith(f"bench: {len(figures)} figures, ")
    assert f"/{targeted} targets met" in summary
