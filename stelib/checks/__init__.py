"""Exercise checkers, one per coding exercise (chapters 1 to 6).

Each checker takes the student's function, runs it against the exact ground truth,
and returns a :class:`Verdict` whose text is the verdict and a hint. A checker never
raises into the notebook. ``CHECKERS`` maps each exercise label to the name of the
function the student writes and its checker, for the grading tool.
"""

from __future__ import annotations

from collections.abc import Callable

from ._core import StudentError, Verdict, as_tensor, call, run_cases

CHECKERS: dict[str, tuple[str, Callable]] = {}
"""Exercise label -> (name of the student's function, checker)."""


def register(label: str, function: str):
    """Register a checker for exercise ``label`` where the student defines ``function``."""

    def decorate(checker: Callable) -> Callable:
        CHECKERS[label] = (function, checker)
        return checker

    return decorate


__all__ = ["CHECKERS", "StudentError", "Verdict", "as_tensor", "call", "register", "run_cases"]

from . import ch01, ch02, ch03, ch04, ch05, ch06  # noqa: E402,F401  (registers the checkers)
