"""The checker harness: run a student's function safely and turn what happens into a verdict.

A checker never raises into the notebook: exceptions, wrong types and shapes, NaN and
infinite values, and code that runs too long all become a readable :class:`Verdict`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

TIME_LIMIT_S = 20.0
"""How long one call of the student's function may run (POSIX main thread only)."""


@dataclass
class Verdict:
    """The outcome of a check. Its ``repr`` is the message shown in the notebook.

    Attributes:
        exercise: the exercise's label.
        status: ``"passed"``, ``"failed"``, ``"error"`` or ``"not implemented"``.
        message: what was found.
        hint: what to look at next (empty when passed).
        score: the fraction of the exercise's cases that passed, in [0, 1].
    """

    exercise: str
    status: str
    message: str
    hint: str = ""
    score: float = 0.0
    details: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __repr__(self) -> str:
        mark = {"passed": "PASSED", "not implemented": "NOT IMPLEMENTED YET"}.get(
            self.status, "NOT YET"
        )
        lines = [f"[{mark}] {self.exercise}: {self.message}"]
        lines += [f"  - {d}" for d in self.details]
        if self.hint:
            lines.append(f"Hint: {self.hint}")
        return "\n".join(lines)

    __str__ = __repr__


class StudentError(Exception):
    """Raised inside the harness when the student's code fails; turned into a verdict."""


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float):
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def handler(signum, frame):
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def call(fn: Callable, *args, **kwargs):
    """Call the student's ``fn``; any failure becomes a :class:`StudentError` with a short reason."""
    try:
        with _time_limit(TIME_LIMIT_S):
            return fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except _Timeout:
        raise StudentError(
            f"it ran for more than {TIME_LIMIT_S:.0f} s (an infinite loop?)"
        ) from None
    except Exception as error:  # noqa: BLE001 - every student error becomes a message
        frame = traceback.extract_tb(error.__traceback__)[-1]
        raise StudentError(
            f"it raised {type(error).__name__}: {error} (line {frame.lineno})"
        ) from None


def as_tensor(value, name: str, shape: tuple | None = None) -> torch.Tensor:
    """Check that the student's ``value`` is a finite tensor of the expected shape."""
    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(value, dtype=torch.get_default_dtype())
        except Exception:  # noqa: BLE001
            raise StudentError(f"{name} should be a tensor, got {type(value).__name__}") from None
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise StudentError(f"{name} should have shape {tuple(shape)}, got {tuple(value.shape)}")
    if value.is_floating_point() and torch.isnan(value).any():
        raise StudentError(f"{name} contains NaN")
    if value.is_floating_point() and torch.isinf(value).any():
        raise StudentError(f"{name} contains inf")
    return value


def run_cases(exercise: str, fn, cases: list[Callable], *, hint: str, success: str) -> Verdict:
    """Run each case (a function of the student's ``fn`` that raises ``AssertionError``
    with a message on a wrong answer) and summarise. Never raises."""
    if not callable(fn):
        return Verdict(exercise, "error", f"expected a function, got {type(fn).__name__}", hint)
    failures: list[str] = []
    for case in cases:
        try:
            case(fn)
        except NotImplementedError:
            return Verdict(
                exercise,
                "not implemented",
                "the function still raises NotImplementedError.",
                "Replace `raise NotImplementedError` with your implementation.",
            )
        except StudentError as error:
            failures.append(f"your function failed: {error}")
        except AssertionError as error:
            failures.append(str(error) or "a result did not match")
        except Exception as error:  # noqa: BLE001 - a checker must never crash the notebook
            failures.append(f"checking the result raised {type(error).__name__}: {error}")
    passed = len(cases) - len(failures)
    score = passed / len(cases) if cases else 0.0
    if not failures:
        return Verdict(exercise, "passed", success, score=1.0)
    status = "error" if all(f.startswith("your function failed") for f in failures) else "failed"
    return Verdict(
        exercise, status, f"{passed} of {len(cases)} checks passed.", hint, score, failures
    )
