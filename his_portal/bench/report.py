"""How every benchmark reports: one JSON line per figure, then a one-line summary.

A figure is ``{"name", "value", "unit", "target", "met"}``; ``target`` is the goal as
text (``"<= 50"``, ``">= 40"``) or null when the figure is informational. The lines are
for machines (diff two runs, plot them); :func:`summary` is the line for people.
"""

from __future__ import annotations

import json
import operator
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Report", "p95", "timed_ms"]

_COMPARE = {"<=": operator.le, ">=": operator.ge}


def p95(samples: list[float]) -> float:
    """The 95th percentile (nearest rank) of at least one sample."""
    ordered = sorted(samples)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def timed_ms(
    fn: Callable[[], object],
    repeat: int,
    clock: Callable[[], float] = time.perf_counter,
) -> list[float]:
    """Milliseconds of ``repeat`` calls of ``fn``: wall time, or CPU time with
    ``clock=time.process_time``."""
    samples = []
    for _ in range(repeat):
        start = clock()
        fn()
        samples.append((clock() - start) * 1000)
    return samples


@dataclass
class Report:
    """Collects figures, printing each as it comes (a long run shows progress)."""

    out: object = sys.stdout
    figures: list[dict] = field(default_factory=list)

    def figure(
        self, name: str, value: float, unit: str, target: str | None = None
    ) -> None:
        met = None
        if target is not None:
            sign, bound = target.split()
            met = _COMPARE[sign](value, float(bound))
        row = {
            "name": name,
            "value": round(value, 2),
            "unit": unit,
            "target": target,
            "met": met,
        }
        self.figures.append(row)
        print(json.dumps(row, ensure_ascii=False), file=self.out, flush=True)

    def timings(
        self, name: str, samples: list[float], target_p95: float | None = None
    ) -> None:
        """A timed operation as two figures: its median and its p95 (ms)."""
        self.figure(f"{name} · median", statistics.median(samples), "ms")
        target = None if target_p95 is None else f"<= {target_p95:g}"
        self.figure(f"{name} · p95", p95(samples), "ms", target)

    def summary(self) -> str:
        targeted = [row for row in self.figures if row["met"] is not None]
        missed = [row["name"] for row in targeted if not row["met"]]
        line = (
            f"bench: {len(self.figures)} figures, {len(targeted) - len(missed)}"
            f"/{len(targeted)} targets met"
        )
        return line + (f"; missed: {'; '.join(missed)}" if missed else "")
