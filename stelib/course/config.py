"""The course's settings, read from the book's ``_config.yml`` (configured once there)."""

from __future__ import annotations

from pathlib import Path

import yaml


def book_config(root: Path) -> dict:
    return yaml.safe_load((Path(root) / "_config.yml").read_text(encoding="utf-8")) or {}


def repository(root: Path) -> tuple[str, str]:
    """``(url, branch)`` of ``repository`` in ``_config.yml``: the package installs from
    ``url``; the Colab launch buttons open notebooks on ``branch``."""
    repo = book_config(root).get("repository", {})
    url = repo.get("url")
    if not url:
        raise ValueError("_config.yml has no repository.url: the Colab install cell needs it")
    return url, repo.get("branch", "main")


def toc_files(root: Path) -> list[str]:
    """Every page of ``_toc.yml`` (root first), as written there (no suffix)."""
    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part.get("chapters", [])]
    files += [chapter["file"] for chapter in toc.get("chapters", [])]
    return files
