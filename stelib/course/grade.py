"""Autograding (``stelib-course grade``): run each submission, then run the checkers ourselves.

Each submission runs in a fresh Python process (an IPython shell, so magics work) with
a time limit. After the student's cells have run, every ``stelib`` module is restored
to the state it had before, and the checkers are called through references taken
before any student code ran: a notebook that redefines or patches a checker gains
nothing. A submission that is not valid JSON, raises, loops forever or lacks a
function gets a row with the reason; the batch always goes on.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .myst import directive_names, directive_option

DEFAULT_TIMEOUT_S = 180


@dataclass
class Row:
    """One submission's grades: a score in [0, 1] per exercise, and why marks were lost."""

    notebook: str
    scores: dict[str, float] = field(default_factory=dict)
    status: str = "ok"
    reasons: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(self.scores.values())


def _exercises(nb, path: Path) -> list[str]:
    from ..checks import CHECKERS

    labels = list(nb.metadata.get("stelib", {}).get("exercises", []))
    if not labels:
        for cell in nb.cells:
            if cell.cell_type == "markdown" and "exercise" in directive_names(cell.source):
                labels.append(directive_option(cell.source, "exercise", "label") or "")
    if not labels:
        chapter = Path(path).name[:2]
        labels = [label for label in CHECKERS if label.startswith(f"ex-ch{chapter}-")]
    return [label for label in labels if label in CHECKERS]


def grade_notebook(path: Path, timeout: float = DEFAULT_TIMEOUT_S) -> Row:
    """Grade one submitted notebook. Never raises."""
    row = Row(Path(path).name)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:  # noqa: BLE001 - any unreadable file is a row, not a crash
        row.status = "invalid"
        row.reasons.append(f"not a valid notebook: {type(error).__name__}: {str(error)[:200]}")
        return row
    labels = _exercises(nb, path)
    row.scores = dict.fromkeys(labels, 0.0)
    if not labels:
        row.status = "no exercises"
        row.reasons.append("no exercise with a checker found in this notebook")
        return row
    cells = [c.source for c in nb.cells if c.cell_type == "code"]
    with tempfile.TemporaryDirectory() as tmp:
        job, result = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job.write_text(json.dumps({"cells": cells, "exercises": labels}))
        env = {**os.environ, "MPLBACKEND": "Agg"}
        try:
            subprocess.run(
                [sys.executable, "-m", "stelib.course._worker", str(job), str(result)],
                cwd=Path(path).resolve().parent,
                env=env,
                timeout=timeout,
                capture_output=True,
                check=False,
            )
        except subprocess.TimeoutExpired:
            row.status = "timeout"
            row.reasons.append(
                f"the notebook did not finish within {timeout:g} s (an infinite loop?)"
            )
            return row
        if not result.exists():
            row.status = "crashed"
            row.reasons.append("the notebook's process died before grading (it may call exit())")
            return row
        outcome = json.loads(result.read_text())
    row.reasons += outcome["cell_errors"]
    for label, verdict in outcome["verdicts"].items():
        row.scores[label] = round(verdict["score"], 4)
        if verdict["status"] != "passed":
            row.reasons.append(f"{label}: {verdict['message']}")
    return row


def write_csv(rows: list[Row], out: Path) -> None:
    """One row per submission, one column per exercise (union over submissions), a total."""
    labels: list[str] = []
    for row in rows:
        labels += [label for label in row.scores if label not in labels]
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["notebook", *labels, "total", "max", "status", "reasons"])
        for row in rows:
            writer.writerow(
                [row.notebook]
                + [row.scores.get(label, "") for label in labels]
                + [round(row.total, 4), len(row.scores), row.status, " | ".join(row.reasons)]
            )


def grade(paths: list[Path], out: Path, timeout: float = DEFAULT_TIMEOUT_S) -> list[Row]:
    """Grade every notebook in ``paths`` and write ``out`` (CSV)."""
    rows = []
    for path in paths:
        row = grade_notebook(Path(path), timeout)
        print(f"{row.notebook}: {row.total:g}/{len(row.scores)} ({row.status})", flush=True)
        rows.append(row)
    write_csv(rows, Path(out))
    return rows
