"""Student and Colab versions of the chapter notebooks (``stelib-course student|colab``).

Source notebooks follow one convention (see the instructor guide): an exercise is a
markdown cell with an ``{exercise}`` directive and a ``:label:``; its solution is every
cell between a ``{solution-start} LABEL`` cell and a ``{solution-end}`` cell (tagged
``solution``); the checker cell after it is tagged ``checker``.
"""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path

import nbformat

from .myst import Context, directive_names, directive_option, load_citations, to_markdown

STUB_LINE = 'raise NotImplementedError("Exercise: write your solution here")'
FREE_FORM = "# Your code for this exercise here (no function to write: run and explore)."


def chapter_number(path: Path) -> str:
    """The chapter number of ``NN_name.ipynb`` as written in the book ("2" for ``02_...``)."""
    match = re.match(r"^(\d+)_", Path(path).name)
    return str(int(match.group(1))) if match else ""


def exercise_labels(nb) -> list[str]:
    """The labels of the notebook's exercises, in order."""
    labels = []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "exercise" in directive_names(cell.source):
            label = directive_option(cell.source, "exercise", "label")
            if label:
                labels.append(label)
    return labels


def exercise_titles(nb, chapter: str) -> dict[str, str]:
    """Label -> "Exercise C.K", numbered as the book numbers them."""
    prefix = f"{chapter}." if chapter else ""
    return {label: f"Exercise {prefix}{k}" for k, label in enumerate(exercise_labels(nb), 1)}


def _stub_function(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> list[str]:
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    first = node.body[0]
    if first.lineno == node.lineno:
        header = [f"def {node.name}({ast.unparse(node.args)}):"]
        indent = " " * (node.col_offset + 4)
    else:
        header = lines[start - 1 : first.lineno - 1]
        indent = " " * first.col_offset
    keep = []
    if ast.get_docstring(node) is not None:
        keep = lines[first.lineno - 1 : first.end_lineno]
    return header + keep + [indent + STUB_LINE]


def stub(source: str) -> str:
    """The exercise's starting point from its solution: imports, signatures and docstrings
    kept, every function body replaced by ``raise NotImplementedError``. A solution that
    defines no function (an experiment to run) becomes an empty cell to write in."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return FREE_FORM
    lines = source.split("\n")
    parts: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            parts.append(ast.get_source_segment(source, node))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            parts.append("\n".join(_stub_function(node, lines)))
        elif isinstance(node, ast.ClassDef):
            first = node.body[0]
            header = lines[
                min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1 : first.lineno - 1
            ]
            body = []
            if ast.get_docstring(node) is not None:
                body += lines[first.lineno - 1 : first.end_lineno]
            methods = [
                n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            ]
            for method in methods:
                body += _stub_function(method, lines)
            if not methods:
                body.append(" " * first.col_offset + "pass")
            parts.append("\n".join(header + body))
    if not any(
        isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for n in tree.body
    ):
        return FREE_FORM
    return "\n\n".join(parts)


def _is_marker(cell, name: str) -> bool:
    return cell.cell_type == "markdown" and name in directive_names(cell.source)


def _segments(nb):
    """Yield ``("cell", cell)`` and ``("solution", label, [cells])`` in order."""
    cells = nb.cells
    i = 0
    while i < len(cells):
        cell = cells[i]
        if _is_marker(cell, "solution-start"):
            label = directive_option(cell.source, "solution-start", "arg") or ""
            j = i + 1
            while j < len(cells) and not _is_marker(cells[j], "solution-end"):
                j += 1
            yield ("solution", label, cells[i + 1 : j])
            i = j + 1
        else:
            yield ("cell", cell)
            i += 1


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _markdown(source: str, tags: list[str] | None = None):
    cell = nbformat.v4.new_markdown_cell(source)
    if tags:
        cell.metadata["tags"] = tags
    return cell


def _context(nb, path: Path, citations: dict[str, str], solutions: str) -> Context:
    return Context(citations, exercise_titles(nb, chapter_number(path)), solutions)


def _plain(cell, ctx: Context):
    cell = copy.deepcopy(cell)
    if cell.cell_type == "markdown":
        cell.source = to_markdown(cell.source, ctx)
    return cell


def _clear(cell):
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    cell.metadata.pop("execution", None)
    return cell


def _number_title(nb, chapter: str) -> None:
    """Put the chapter number the book shows in the table of contents into the title."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            if chapter and not re.match(r"^# \d", cell.source):
                cell.source = f"# {chapter}. {cell.source[2:]}"
            return


def student_notebook(nb, path: Path, citations: dict[str, str]):
    """Solutions removed (a stub in place of solution code), exercises as plain Markdown,
    checker cells kept, every output cleared."""
    ctx = _context(nb, path, citations, "drop")
    out = nbformat.v4.new_notebook(metadata=copy.deepcopy(nb.metadata))
    for segment in _segments(nb):
        if segment[0] == "solution":
            code = [c.source for c in segment[2] if c.cell_type == "code"]
            if code:
                cell = nbformat.v4.new_code_cell("\n\n".join(stub(s) for s in code))
                cell.metadata["tags"] = ["exercise-stub"]
                out.cells.append(cell)
            continue
        cell = segment[1]
        if "solution" in _tags(cell):
            continue
        out.cells.append(_clear(_plain(cell, ctx)))
    _number_title(out, chapter_number(path))
    out.metadata["stelib"] = {"version": "student", "exercises": list(ctx.labels)}
    return out


def install_cell(repository_url: str, branch: str = "main"):
    """The first cell of a Colab notebook: install the course package where it is missing."""
    spec = f"stelib @ git+{repository_url.rstrip('/')}.git@{branch}"
    source = (
        "# Installs the course library when it is missing (as on Colab); does nothing locally.\n"
        "import importlib.util\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if importlib.util.find_spec("stelib") is None:\n'
        f'    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "{spec}"], check=True)'
    )
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["colab-install"]
    return cell


def colab_notebook(
    nb, path: Path, citations: dict[str, str], repository_url: str, branch: str = "main"
):
    """Readable in Colab and plain Jupyter: no MyST syntax, solutions collapsed
    (``<details>`` for text, hidden input for code), an install cell first."""
    ctx = _context(nb, path, citations, "keep")
    out = nbformat.v4.new_notebook(metadata=copy.deepcopy(nb.metadata))
    out.metadata["colab"] = {"provenance": []}
    out.cells.append(install_cell(repository_url, branch))
    for segment in _segments(nb):
        if segment[0] == "cell":
            out.cells.append(_plain(segment[1], ctx))
            continue
        label, cells = segment[1], segment[2]
        title = f"Solution to {ctx.labels.get(label, label)}"
        text = "\n\n".join(to_markdown(c.source, ctx) for c in cells if c.cell_type == "markdown")
        if text:
            out.cells.append(
                _markdown(
                    f"<details>\n<summary>{title}</summary>\n\n{text}\n\n</details>", ["solution"]
                )
            )
        for cell in (c for c in cells if c.cell_type == "code"):
            cell = copy.deepcopy(cell)
            cell.source = f"# @title {title} (double-click to show the code)\n{cell.source}"
            cell.metadata["cellView"] = "form"
            cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
            cell.metadata["tags"] = sorted(set(_tags(cell)) | {"solution"})
            out.cells.append(cell)
    _number_title(out, chapter_number(path))
    out.metadata["stelib"] = {"version": "colab", "exercises": list(ctx.labels)}
    return out


def toc_notebooks(root: Path) -> list[Path]:
    """Every notebook page of the book, in the order of ``_toc.yml``."""
    from .config import toc_files

    return [
        root / f"{name}.ipynb" for name in toc_files(root) if (root / f"{name}.ipynb").is_file()
    ]


def write_all(kind: str, source_dir: Path, out_dir: Path, root: Path) -> list[Path]:
    """Write the ``kind`` ("student" or "colab") version of the chapter notebooks
    (``NN_*.ipynb`` in ``source_dir``) under ``out_dir``, at their paths relative to
    ``root``. The Colab set also holds every other notebook page of the book, so that
    each launch button of ``notebooks/X.ipynb`` finds the same path on the published
    branch."""
    from .config import repository

    root = Path(root).resolve()
    citations = load_citations(root / "references.bib")
    url, _ = repository(root)
    paths = sorted(Path(source_dir).resolve().glob("[0-9][0-9]_*.ipynb"))
    if kind == "colab":
        paths += [p for p in toc_notebooks(root) if p.resolve() not in paths]
    written = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if kind == "student":
            new = student_notebook(nb, path, citations)
        else:
            new = colab_notebook(nb, path, citations, url, "main")
        nbformat.validate(new)
        target = Path(out_dir) / path.resolve().relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(new, target)
        written.append(target)
    return written
