"""What every exercise checker must do, whatever its exercise: checked for all of them.

The chapter files (tests/test_checks_chNN.py) test each checker's own cases: right,
wrong, NaN-returning and wrongly shaped answers.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import torch

from stelib.checks import CHECKERS, _core
from stelib.course.notebooks import _segments

LABELS = sorted(CHECKERS)
NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _solutions() -> dict[str, str]:
    """Exercise label -> the solution code of its notebook, after the notebook's imports."""
    found = {}
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        imports = [
            line
            for cell in nb.cells
            if cell.cell_type == "code"
            for line in cell.source.split("\n")
            if line.startswith(("import ", "from ")) and "import *" not in line
        ]
        for segment in _segments(nb):
            if segment[0] == "solution":
                code = [c.source for c in segment[2] if c.cell_type == "code"]
                found[segment[1]] = "\n".join(imports) + "\n\n" + "\n\n".join(code)
    return found


SOLUTIONS = _solutions()


def _crash(*args, **kwargs):
    raise ZeroDivisionError("boom")


def _not_implemented(*args, **kwargs):
    raise NotImplementedError


def _loop(*args, **kwargs):
    while True:
        pass


def test_there_are_checkers_for_every_chapter():
    chapters = {label.split("-")[1] for label in LABELS}
    assert {f"ch0{n}" for n in range(1, 7)} <= chapters
    assert all(len([lb for lb in LABELS if f"-{c}-" in lb]) >= 2 for c in chapters)


@pytest.mark.parametrize("label", LABELS)
def test_the_notebook_solution_passes_its_checker(label):
    function, checker = CHECKERS[label]
    assert label in SOLUTIONS, f"no solution for {label} in the notebooks"
    namespace: dict = {}
    exec(compile(SOLUTIONS[label], label, "exec"), namespace)
    verdict = checker(namespace[function])
    assert verdict.passed and verdict.score == 1, verdict


@pytest.mark.parametrize("label", LABELS)
def test_a_crash_becomes_an_error_verdict(label):
    verdict = CHECKERS[label][1](_crash)
    assert verdict.status == "error" and verdict.score == 0
    assert "ZeroDivisionError" in repr(verdict) and "boom" in repr(verdict)


@pytest.mark.parametrize("label", LABELS)
def test_not_implemented_is_its_own_verdict(label):
    verdict = CHECKERS[label][1](_not_implemented)
    assert verdict.status == "not implemented" and verdict.score == 0
    assert "NOT IMPLEMENTED YET" in repr(verdict)


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize("value", [None, 3, "name"])
def test_a_non_callable_becomes_a_verdict(label, value):
    verdict = CHECKERS[label][1](value)
    assert verdict.status == "error" and "expected a function" in repr(verdict)


@pytest.mark.parametrize("label", LABELS)
def test_an_infinite_loop_is_stopped(label, monkeypatch):
    monkeypatch.setattr(_core, "TIME_LIMIT_S", 0.2)
    verdict = CHECKERS[label][1](_loop)
    assert verdict.status == "error" and "infinite loop" in repr(verdict)


@pytest.mark.parametrize("label", LABELS)
def test_checking_leaves_the_global_random_state_alone(label):
    function, checker = CHECKERS[label]
    namespace: dict = {}
    exec(compile(SOLUTIONS[label], label, "exec"), namespace)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checker(namespace[function])
    assert torch.equal(torch.rand(3), expected)
