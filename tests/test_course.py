"""stelib-course: student and Colab notebooks leak no solution, read cleanly, run; grading is fair.

The slow tests execute every chapter (student versions in a kernel, and submissions
through the grader); together they take a few minutes.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

from stelib.checks import CHECKERS
from stelib.course import main as course_main
from stelib.course.grade import grade, grade_notebook
from stelib.course.notebooks import _segments, stub, write_all

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
IDS = [p.stem for p in CHAPTERS]
MYST_SYNTAX = re.compile(
    r"```\{|:::\{|\{cite[:\w]*\}`|\{ref\}`|\{numref\}`|^:label:|^\([\w.-]+\)=\s*$", re.M
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("course")
    write_all("student", ROOT / "notebooks", out / "student", ROOT)
    write_all("colab", ROOT / "notebooks", out / "colab", ROOT)
    return out


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _solution_lines(nb) -> set[str]:
    """Lines that only a solution contains: not the exercise's interface (imports,
    signatures, docstrings, kept in the stub) and not found in any other cell."""
    elsewhere = "\n".join(
        seg[1].source
        for seg in _segments(nb)
        if seg[0] == "cell" and "solution" not in seg[1].metadata.get("tags", [])
    )
    lines = set()
    for seg in _segments(nb):
        if seg[0] != "solution":
            continue
        for cell in seg[2]:
            interface = stub(cell.source) if cell.cell_type == "code" else ""
            for line in cell.source.split("\n"):
                text = line.strip()
                if len(text) >= 12 and text not in interface and text not in elsewhere:
                    lines.add(text)
    return lines


def test_every_chapter_has_solutions_and_checkers():
    assert len(CHAPTERS) >= 5
    for path in CHAPTERS:
        nb = _read(path)
        assert sum(seg[0] == "solution" for seg in _segments(nb)) >= 4, path.name
        assert len(_solution_lines(nb)) > 0, path.name


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_no_solution_line_survives_in_student_notebook(path, generated):
    student = _read(generated / "student" / "notebooks" / path.name)
    text = "\n".join(cell.source for cell in student.cells)
    leaked = [line for line in _solution_lines(_read(path)) if line in text]
    assert not leaked, f"solution lines in the student notebook: {leaked[:3]}"
    assert not any("solution" in c.metadata.get("tags", []) for c in student.cells)
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_colab_notebook_shows_solutions_only_collapsed(path, generated):
    colab = _read(generated / "colab" / "notebooks" / path.name)
    visible, collapsed = [], []
    for cell in colab.cells:
        (collapsed if "solution" in cell.metadata.get("tags", []) else visible).append(cell)
    for cell in collapsed:
        if cell.cell_type == "markdown":
            assert cell.source.startswith("<details>") and cell.source.endswith("</details>")
        else:
            assert cell.metadata["cellView"] == "form" and cell.metadata["jupyter"]["source_hidden"]
            assert cell.source.startswith("# @title Solution to Exercise")
    text = "\n".join(cell.source for cell in visible)
    leaked = [line for line in _solution_lines(_read(path)) if line in text]
    assert not leaked, f"solution lines visible in the Colab notebook: {leaked[:3]}"
    assert collapsed, "the Colab notebook should keep the solutions, collapsed"


@pytest.mark.parametrize("kind", ["student", "colab"])
@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_no_raw_myst_syntax(path, kind, generated):
    nb = _read(generated / kind / "notebooks" / path.name)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            assert not MYST_SYNTAX.search(cell.source), cell.source[:300]
    exercises = [c.source for c in nb.cells if c.source.startswith("**Exercise ")]
    assert len(exercises) >= 4
    assert exercises[0].startswith(f"**Exercise {int(path.name[:2])}.1")


def test_colab_install_cell_uses_the_configured_repository(generated):
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    for path in CHAPTERS:
        first = _read(generated / "colab" / "notebooks" / path.name).cells[0]
        assert first.cell_type == "code" and "colab-install" in first.metadata["tags"]
        assert f"git+{url}.git@main" in first.source
        assert 'find_spec("stelib") is None' in first.source


def test_install_cell_does_nothing_when_stelib_is_present():
    from stelib.course.notebooks import install_cell

    source = install_cell("https://example.invalid/no-such-repo").source
    exec(compile(source, "install-cell", "exec"), {})  # would fail if it tried to install


def test_stub_keeps_interface_only():
    source = 'import torch\n\n\ndef f(x, *, y=1):\n    """Doc."""\n    secret = x * y\n    return secret\n'
    result = stub(source)
    assert "import torch" in result and "def f(x, *, y=1):" in result and '"""Doc."""' in result
    assert "secret" not in result and "raise NotImplementedError" in result
    namespace = {}
    exec(result, namespace)
    with pytest.raises(NotImplementedError):
        namespace["f"](1)


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_student_notebook_runs_top_to_bottom(path, generated):
    target = generated / "student" / "notebooks" / path.name
    nb = _read(target)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(target.parent)}}
    ).execute()
    verdicts = [
        "".join(o.get("data", {}).get("text/plain", "") + o.get("text", "") for o in c.outputs)
        for c in nb.cells
        if "checker" in c.metadata.get("tags", [])
    ]
    assert len(verdicts) >= 2
    assert all("NOT IMPLEMENTED YET" in v for v in verdicts), verdicts


# --- grading ---------------------------------------------------------------------------


def test_source_notebooks_get_full_marks_and_blank_student_notebooks_zero(generated, tmp_path):
    students = sorted((generated / "student" / "notebooks").glob("*.ipynb"))
    rows = grade(CHAPTERS + students, tmp_path / "grades.csv")
    for row in rows[: len(CHAPTERS)]:
        assert len(row.scores) >= 2 and row.total == len(row.scores), (row.notebook, row.reasons)
    for row in rows[len(CHAPTERS) :]:
        assert len(row.scores) >= 2 and row.total == 0 and row.status == "ok", (
            row.notebook,
            row.reasons,
        )
    with open(tmp_path / "grades.csv") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 2 * len(CHAPTERS)
    assert {label for label in CHECKERS if label.startswith("ex-ch01-")} <= set(table[0])


def _with_cell(path: Path, source: str, out: Path) -> Path:
    nb = _read(path)
    nb.cells.append(nbformat.v4.new_code_cell(source))
    nbformat.write(nb, out)
    return out


def test_wrong_answer_gets_partial_marks_with_reason(tmp_path):
    source = CHAPTERS[0]
    labels = [label for label in CHECKERS if label.startswith(f"ex-ch{source.name[:2]}-")]
    label, (function, _) = labels[0], CHECKERS[labels[0]]
    wrong = f"_right = {function}\n\ndef {function}(*args, **kwargs):\n    return _right(*args, **kwargs) + 1.0\n"
    row = grade_notebook(_with_cell(source, wrong, tmp_path / "wrong.ipynb"))
    assert row.scores[label] < 1
    assert 0 < row.total < len(row.scores)
    assert any(reason.startswith(label) for reason in row.reasons)


def test_missing_function_and_raising_cell_are_reported(tmp_path):
    source = CHAPTERS[0]
    label = next(label for label in CHECKERS if label.startswith(f"ex-ch{source.name[:2]}-"))
    function = CHECKERS[label][0]
    row = grade_notebook(
        _with_cell(source, f"del {function}\nraise RuntimeError('boom')", tmp_path / "m.ipynb")
    )
    assert row.scores[label] == 0
    assert any("no function named" in reason for reason in row.reasons)
    assert any("RuntimeError" in reason for reason in row.reasons)


def test_infinite_loop_times_out_into_a_row(tmp_path):
    row = grade_notebook(
        _with_cell(CHAPTERS[0], "while True:\n    pass", tmp_path / "loop.ipynb"), timeout=45
    )
    assert row.status == "timeout" and row.total == 0
    assert "did not finish" in row.reasons[0]


PATCH = """
import stelib.checks as checks
from stelib.checks import _core
from stelib.checks._core import Verdict

def _always(fn, *args, **kwargs):
    return Verdict("any", "passed", "patched", score=1.0)

for _label, (_name, _checker) in list(checks.CHECKERS.items()):
    checks.CHECKERS[_label] = (_name, _always)
    setattr(__import__(_checker.__module__, fromlist=["x"]), _checker.__name__, _always)
_core.run_cases = lambda exercise, fn, cases, **kw: Verdict(exercise, "passed", "patched", score=1.0)
Verdict.passed = property(lambda self: True)
"""


def test_patching_the_checkers_gains_nothing(generated, tmp_path):
    blank = generated / "student" / "notebooks" / CHAPTERS[0].name
    row = grade_notebook(_with_cell(blank, PATCH, tmp_path / "patch.ipynb"))
    assert len(row.scores) >= 2 and row.total == 0, row.reasons


def test_invalid_notebook_gets_a_row_and_the_batch_goes_on(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{ this is not json")
    out = tmp_path / "grades.csv"
    assert course_main(["grade", str(bad), "--out", str(out)]) == 0
    (row,) = list(csv.DictReader(open(out)))
    assert row["status"] == "invalid" and "not a valid notebook" in row["reasons"]
