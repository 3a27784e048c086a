"""Serve MathJax 3 from the built book itself, so that math renders offline.

Sphinx's default ``mathjax_path`` points at a CDN, which a reader without network
access never reaches. This extension copies MathJax 3 from the
``sphinx-mathjax-offline`` package (its importable folder is literally named
``sphinx-mathjax-offline``; we use its files, not its Sphinx hook, which copies all
24 MB only after a successful build) into ``_build/html/_static/mathjax`` *before*
the pages are written, and points ``mathjax_path`` at the local component.

Configuration (``sphinx: config:`` in ``_config.yml``):

``offline_mathjax_component``
    The MathJax 3 combined component to load, ``"tex-chtml.js"`` (default) or
    ``"tex-svg.js"``.

``mathjax_path`` is overwritten at ``config-inited`` with the lowest priority (runs
last), so the local copy wins over any value set by Jupyter Book, MyST or a theme.
Every page is checked at ``html-page-context``: a script that loads MathJax from
anywhere but ``_static/mathjax`` is reported as a warning (an error under ``-W``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

PACKAGE = "sphinx-mathjax-offline"
TARGET = "mathjax"  # folder under _static
COMPONENTS = ("tex-chtml.js", "tex-svg.js")
# The combined components load these lazily: fonts (output/), TeX extensions that
# \require or autoload pulls in (input/), the menu and accessibility (ui/, a11y/, sre/).
SUBFOLDERS = ("a11y", "adaptors", "input", "output", "sre", "ui")


def mathjax_source() -> Path:
    """The ``static/mathjax`` folder of the installed sphinx-mathjax-offline package."""
    candidates = []
    spec = importlib.util.find_spec(PACKAGE)
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "static" / "mathjax")
    try:
        dist = importlib.metadata.distribution(PACKAGE)
        candidates.append(Path(dist.locate_file(f"{PACKAGE}/static/mathjax")))
    except importlib.metadata.PackageNotFoundError:
        pass
    for path in candidates:
        if (path / "tex-chtml.js").is_file():
            return path
    raise ExtensionError(
        f"offline_mathjax: MathJax 3 not found; install the {PACKAGE!r} package "
        "(it is in the 'book' extra of pyproject.toml)"
    )


def set_mathjax_path(app: Sphinx, config: Config) -> None:
    component = config.offline_mathjax_component
    if component not in COMPONENTS:
        raise ExtensionError(
            f"offline_mathjax_component must be one of {COMPONENTS}, got {component!r}"
        )
    # relative paths are served from _static by Sphinx's add_js_file
    config.mathjax_path = f"{TARGET}/{component}"


def copy_mathjax(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    source = mathjax_source()
    target = Path(app.outdir) / "_static" / TARGET
    target.mkdir(parents=True, exist_ok=True)
    component = app.config.offline_mathjax_component
    shutil.copy2(source / component, target / component)
    for sub in SUBFOLDERS:
        if (source / sub).is_dir():
            shutil.copytree(
                source / sub,
                target / sub,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__"),
            )


def check_page(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    for script in context.get("script_files", []):
        src = str(getattr(script, "filename", script) or "")
        if "mathjax" in src.lower() and "://" in src:
            logger.warning(
                "offline_mathjax: page %s loads MathJax from the network: %s",
                pagename,
                src,
                type="offline_mathjax",
            )


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx.ext.mathjax")
    app.add_config_value("offline_mathjax_component", "tex-chtml.js", "html", [str])
    app.connect("config-inited", set_mathjax_path, priority=999)
    # builder-inited runs before Sphinx copies assets and writes pages, so the page
    # links get Sphinx's ?v=checksum and the files exist even if the build fails
    app.connect("builder-inited", copy_mathjax)
    # after sphinx.ext.mathjax's install_mathjax (priority 500) has added its script
    app.connect("html-page-context", check_page, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
