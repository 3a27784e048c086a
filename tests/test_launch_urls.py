"""Every Colab launch URL in the built book opens a notebook that `stelib-course colab` generates.

Needs the built book (`make book` runs before these tests in `make test`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stelib.course.config import repository, toc_files
from stelib.course.notebooks import write_all

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
COLAB = re.compile(r"https://colab\.research\.google\.com/github/[^\"'<> ]+")


def _toc_notebooks() -> list[str]:
    return [f for f in toc_files(ROOT) if (ROOT / f"{f}.ipynb").exists()]


def test_every_launch_url_maps_to_a_generated_colab_notebook(tmp_path):
    if not (HTML / "index.html").exists():
        pytest.fail("the built book is missing: run `make book` first")
    urls = {
        url
        for page in HTML.rglob("*.html")
        for url in COLAB.findall(page.read_text(encoding="utf-8"))
    }
    url, branch = repository(ROOT)
    owner_repo = url.rstrip("/").removeprefix("https://github.com/")
    prefix = f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/"
    write_all("colab", ROOT / "notebooks", tmp_path, ROOT)
    assert branch != "main", "launch buttons must open the generated notebooks, not the sources"
    for launch in urls:
        assert launch.startswith(prefix), launch
        generated = tmp_path / launch.removeprefix(prefix)
        assert generated.is_file(), (
            f"{launch} opens {generated.name}, which stelib-course colab does not write"
        )
        assert "colab-install" in generated.read_text(encoding="utf-8")
    expected = {f"{prefix}{page}.ipynb" for page in _toc_notebooks()}
    assert len(expected) >= 5 and expected <= urls, sorted(expected - urls)
