"""Runs one submission's code cells, then the checkers (called by ``grade.py`` in a fresh process).

python -m stelib.course._worker JOB.json RESULT.json
"""

from __future__ import annotations

import json
import sys


def _snapshot() -> dict:
    """Every stelib module's namespace, and the attributes of every class it defines."""
    modules, classes = {}, {}
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "stelib" or name.startswith("stelib.")):
            continue
        modules[name] = (module, dict(module.__dict__))
        for value in module.__dict__.values():
            if isinstance(value, type) and value.__module__ == name:
                classes[value] = dict(vars(value))
    return {"modules": modules, "classes": classes}


def _restore(snapshot: dict) -> None:
    for name, (module, namespace) in snapshot["modules"].items():
        sys.modules[name] = module
        module.__dict__.clear()
        module.__dict__.update(namespace)
    for cls, attributes in snapshot["classes"].items():
        for key in set(vars(cls)) - set(attributes):
            delattr(cls, key)
        for key, value in attributes.items():
            if key not in ("__dict__", "__weakref__") and vars(cls).get(key) is not value:
                setattr(cls, key, value)


def main(job_path: str, result_path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from IPython.core.interactiveshell import InteractiveShell

    import stelib
    import stelib.checks as checks

    job = json.loads(open(job_path, encoding="utf-8").read())
    held = {label: checks.CHECKERS[label] for label in job["exercises"]}
    snapshot = _snapshot()
    assert stelib  # imported so that the snapshot holds the whole package

    shell = InteractiveShell.instance()
    cell_errors = []
    for index, source in enumerate(job["cells"], 1):
        result = shell.run_cell(source, silent=True, store_history=False)
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            cell_errors.append(
                f"code cell {index} raised {type(error).__name__}: {str(error)[:120]}"
            )
    _restore(snapshot)

    verdicts = {}
    for label, (function, checker) in held.items():
        fn = shell.user_ns.get(function)
        if fn is None:
            verdicts[label] = {
                "status": "missing",
                "score": 0.0,
                "message": f"no function named `{function}`",
            }
            continue
        verdict = checker(fn)
        verdicts[label] = {
            "status": verdict.status,
            "score": verdict.score,
            "message": "; ".join([verdict.message, *verdict.details[:2]]),
        }
    with open(result_path, "w", encoding="utf-8") as handle:
        json.dump({"cell_errors": cell_errors, "verdicts": verdicts}, handle)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
