"""Figures and targets of a benchmark run: printed one line each as they come, kept for JSON.

A figure is a measured value with its unit. A target is a figure with a bound and a verdict;
the bound is part of the line, so a reader never has to look the number up elsewhere.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.harness import REPO_ROOT

RESULTS_FILE = REPO_ROOT / "bench-results" / "latest.json"
NAME_WIDTH = 62


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: at least `fraction` of `values` are at or below it."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclasses.dataclass
class Figure:
    name: str
    value: float
    unit: str
    target: str | None = None
    passed: bool | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "value": self.value, "unit": self.unit}
        if self.target is not None:
            data["target"] = self.target
            data["passed"] = self.passed
        return data


class Section:
    """The figures of one benchmark (sandbox, ingress, e2e, limiter)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.figures: list[Figure] = []
        self.notes: list[str] = []
        self.error: str | None = None

    def figure(self, name: str, value: float, unit: str) -> float:
        self._add(Figure(name, value, unit))
        return value

    def at_most(self, name: str, value: float, bound: float, unit: str) -> bool:
        return self._add(Figure(name, value, unit, f"<= {_format(bound)} {unit}", value <= bound))

    def below(self, name: str, value: float, bound: float, unit: str) -> bool:
        return self._add(Figure(name, value, unit, f"< {_format(bound)} {unit}", value < bound))

    def at_least(self, name: str, value: float, bound: float, unit: str) -> bool:
        return self._add(Figure(name, value, unit, f">= {_format(bound)} {unit}", value >= bound))

    def note(self, text: str) -> None:
        """A line of context (what was driven, how), printed and kept in the JSON."""
        self.notes.append(text)
        print(f"{self.name:<8} # {text}", flush=True)

    @property
    def passed(self) -> bool:
        return self.error is None and all(f.passed is not False for f in self.figures)

    def to_json(self) -> dict[str, Any]:
        return {
            "figures": [f.to_json() for f in self.figures if f.target is None],
            "targets": [f.to_json() for f in self.figures if f.target is not None],
            "notes": self.notes,
            "error": self.error,
            "passed": self.passed,
        }

    def _add(self, figure: Figure) -> bool:
        self.figures.append(figure)
        line = (
            f"{self.name:<8} {figure.name:<{NAME_WIDTH}} {_format(figure.value):>10} {figure.unit}"
        )
        if figure.target is not None:
            verdict = "PASS" if figure.passed else "FAIL"
            line = f"{line:<{NAME_WIDTH + 32}} target {figure.target:<16} {verdict}"
        print(line, flush=True)
        return figure.passed is not False


class Report:
    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.started = datetime.datetime.now(datetime.UTC)
        self.sections: list[Section] = []
        self.interrupted = False

    def section(self, name: str) -> Section:
        section = Section(name)
        self.sections.append(section)
        return section

    @property
    def passed(self) -> bool:
        return not self.interrupted and all(section.passed for section in self.sections)

    def summary(self) -> None:
        print()
        for section in self.sections:
            failed = [f.name for f in section.figures if f.passed is False]
            if section.error:
                verdict = f"ERROR ({section.error})"
            elif failed:
                verdict = f"FAIL ({len(failed)} of {_targets(section)} targets): " + "; ".join(
                    failed
                )
            else:
                verdict = f"PASS ({_targets(section)} targets)"
            print(f"{section.name:<8} {verdict}")
        if self.interrupted:
            print("interrupted: the figures above are partial")

    def write(self, path: Path = RESULTS_FILE) -> Path:
        finished = datetime.datetime.now(datetime.UTC)
        data = {
            "started_at": self.started.isoformat(timespec="seconds"),
            "duration_s": round((finished - self.started).total_seconds(), 1),
            "quick": self.quick,
            "interrupted": self.interrupted,
            "machine": {
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
                "platform": platform.platform(),
            },
            "passed": self.passed,
            "sections": {section.name: section.to_json() for section in self.sections},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n")
        return path


def _targets(section: Section) -> int:
    return sum(1 for f in section.figures if f.target is not None)


def _format(value: float) -> str:
    if value != value:  # NaN: nothing was measured
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1000 or float(value).is_integer():
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"
