"""The built book as a reader sees it, in a real headless Chromium.

Every page listed in ``_toc.yml`` (so chapters added later are covered without editing
this file) is served from ``_build/html`` on localhost and loaded in a fresh browser
profile with every request to another host blocked, as for a reader without network.
For each page:

- it loads with no console error, no uncaught exception, no failed or 4xx/5xx request
  for a local file, and no blocked request to another host for a script, stylesheet,
  font, image or anything else the page needs;
- every image in the article has loaded (``naturalWidth > 0``);
- math is typeset by the local MathJax: every ``.math`` element holds an
  ``mjx-container``, no MathJax error, no raw ``\\(``, ``\\[`` or ``$$`` left in the
  visible text of the article (code excepted);
- a full-page screenshot is written to ``_build/screenshots/<page>.png``;
- each solution (as many as the page's source declares) is a dropdown, hidden until
  its toggle button is clicked and shown after;
- a notebook page's Colab launch link is
  ``{colab_url}/github/<owner>/<repo>/blob/<branch>/<path_to_book>/<page>.ipynb``, from
  ``_config.yml``, and other pages have none;
- the search page, ``search.html?q=<a word of the page's title>``, lists the page.

The book must be built first (``make book``; ``make test`` orders it before these
tests). Without Chromium the tests skip, except when the environment variable ``CI``
is set: then they fail. ``STE_BOOK_ROOT`` (source folder with ``_toc.yml`` and
``_config.yml``; default: this repository) and ``STE_BOOK_HTML`` (default:
``$STE_BOOK_ROOT/_build/html``) point the tests at another build, ``STE_CHROMIUM`` at
another browser.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

BOOK_ROOT = Path(os.environ.get("STE_BOOK_ROOT", Path(__file__).resolve().parents[1]))
HTML = Path(os.environ.get("STE_BOOK_HTML", BOOK_ROOT / "_build" / "html"))
SCREENSHOTS = HTML.parent / "screenshots"
CHROMIUM = os.environ.get("STE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# Blocked requests of these kinds are things a page needs to show itself.
NEEDED = {
    "document",
    "script",
    "stylesheet",
    "font",
    "image",
    "media",
    "fetch",
    "xhr",
    "texttrack",
    "manifest",
    "eventsource",
    "websocket",
}
TIMEOUT_MS = 30_000
SOLUTION_DIRECTIVE = re.compile(r"^\s*(`{3,}|:{3,})\s*\{solution(-start)?\}", re.MULTILINE)


# --- what the book should contain, read from its sources -------------------------


def _toc_pages(root: Path) -> list[str]:
    """Every document of ``_toc.yml`` in reading order, without suffix."""
    path = root / "_toc.yml"
    if not path.exists():
        return []
    toc = yaml.safe_load(path.read_text()) or {}
    pages: list[str] = []

    def add(name: str) -> None:
        name = re.sub(r"\.(md|ipynb|rst)$", "", name.strip("/"))
        if name not in pages:
            pages.append(name)

    def walk(node: dict) -> None:
        for key in ("parts", "chapters", "sections"):
            for entry in node.get(key) or []:
                if "file" in entry:
                    add(entry["file"])
                elif "glob" in entry:
                    for match in sorted(root.glob(entry["glob"])):
                        if match.suffix in {".md", ".ipynb", ".rst"}:
                            add(str(match.relative_to(root).with_suffix("")))
                walk(entry)

    if "root" in toc:
        add(toc["root"])
    walk(toc)
    return pages


def _source(page: str) -> Path | None:
    for suffix in (".ipynb", ".md", ".rst"):
        if (BOOK_ROOT / f"{page}{suffix}").exists():
            return BOOK_ROOT / f"{page}{suffix}"
    return None


def _source_text(page: str) -> str:
    """The Markdown of a page (a notebook's Markdown cells)."""
    path = _source(page)
    if path is None:
        return ""
    if path.suffix != ".ipynb":
        return path.read_text()
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")


def _colab_link(page: str) -> str:
    """The Colab URL that the launch button of a notebook page must carry."""
    config = yaml.safe_load((BOOK_ROOT / "_config.yml").read_text()) or {}
    repository = config.get("repository") or {}
    owner, repo = urlparse(repository["url"]).path.strip("/").removesuffix(".git").split("/")[:2]
    branch = repository.get("branch", "master")
    prefix = str(repository.get("path_to_book") or "").strip("/")
    colab = ((config.get("launch_buttons") or {}).get("colab_url") or "").rstrip("/")
    path = f"{prefix}/{page}.ipynb" if prefix else f"{page}.ipynb"
    return f"{colab}/github/{owner}/{repo}/blob/{branch}/{path}"


PAGES = _toc_pages(BOOK_ROOT)
NOTEBOOK_PAGES = [p for p in PAGES if (s := _source(p)) is not None and s.suffix == ".ipynb"]


# --- fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def html_dir() -> Path:
    if not (HTML / "index.html").is_file():
        pytest.fail(
            f"no built book in {HTML}: run make book first (make test builds it before "
            "the browser tests)",
            pytrace=False,
        )
    return HTML


@pytest.fixture(scope="module")
def server(html_dir: Path):
    """The built book over HTTP on a free localhost port (a thread of this process)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(html_dir))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _no_browser(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but no browser is available: {reason}", pytrace=False)
    pytest.skip(f"no browser: {reason} (set CI=1 to make this a failure)")


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as error:
        _no_browser(f"playwright is not installed ({error}); pip install playwright")
    if not Path(CHROMIUM).exists():
        _no_browser(f"{CHROMIUM} not found; install it with apt-get install -y chromium")
    try:
        playwright = sync_playwright().start()
    except Exception as error:  # the driver itself cannot run here
        _no_browser(f"Playwright does not start: {error}")
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Error as error:
        playwright.stop()
        _no_browser(f"{CHROMIUM} does not start: {error}")
    yield browser
    browser.close()
    playwright.stop()


@dataclass
class Visit:
    """One page loaded in a fresh browser profile, with what happened on the way."""

    name: str
    url: str
    page: object
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    blocked: list[tuple[str, str]] = field(default_factory=list)


def _is_local(url: str) -> bool:
    return urlparse(url).hostname in LOCAL_HOSTS


def _open(browser, url: str, name: str) -> Visit:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    visit = Visit(name, url, page)

    def block(route) -> None:
        visit.blocked.append((route.request.resource_type, route.request.url))
        route.abort("blockedbyclient")

    # every request to another host is answered "blocked", as for a reader offline
    context.route(re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)[:/])"), block)

    def on_console(message) -> None:
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        # Chromium asks for /favicon.ico by itself when a page declares none: not an
        # asset of the page (and not seen by the request handlers below)
        if where.endswith("/favicon.ico"):
            return
        visit.console_errors.append(f"{message.text} ({where})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: visit.page_errors.append(str(error)))
    page.on(
        "requestfailed",
        lambda request: (
            visit.failed.append(f"{request.url}: {request.failure}")
            if _is_local(request.url)
            else None
        ),
    )
    page.on(
        "response",
        lambda response: (
            visit.failed.append(f"{response.url}: HTTP {response.status}")
            if response.status >= 400 and _is_local(response.url)
            else None
        ),
    )
    page.goto(url, wait_until="load")
    if page.locator("script[src*='mathjax']").count():
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise.then(() => true)")
    page.wait_for_load_state("networkidle")  # fonts and images requested late
    return visit


@pytest.fixture(scope="module", params=PAGES)
def visit(request, browser, server, html_dir):
    """Each page of the table of contents, loaded once for all the checks on it."""
    name = request.param
    if not (html_dir / f"{name}.html").is_file():
        pytest.fail(f"{name} is in _toc.yml but not in {html_dir}: run make book", pytrace=False)
    visit = _open(browser, f"{server}/{name}.html", name)
    yield visit
    visit.page.context.close()


# --- per page ----------------------------------------------------------------------

ARTICLE = "article.bd-article"


def test_page_loads_without_errors(visit):
    needed = [(kind, url) for kind, url in visit.blocked if kind in NEEDED]
    assert not needed, (
        f"{visit.name} needs files from other hosts (blocked here, as for a reader "
        f"offline): {needed}"
    )
    assert not visit.failed, f"{visit.name}: failed local requests {visit.failed}"
    assert not visit.page_errors, f"{visit.name}: uncaught exceptions {visit.page_errors}"
    assert not visit.console_errors, f"{visit.name}: console errors {visit.console_errors}"
    assert visit.page.locator(ARTICLE).count() == 1


def test_screenshot(visit):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{visit.name.replace('/', '__')}.png"
    visit.page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000


def test_images_load(visit):
    images = visit.page.evaluate(
        """async (selector) => {
            const images = Array.from(document.querySelectorAll(selector + ' img'));
            for (const img of images) { img.loading = 'eager'; }
            await Promise.all(images.map(img => img.complete ? null : new Promise(done => {
                img.addEventListener('load', done);
                img.addEventListener('error', done);
            })));
            return images.map(img => [img.getAttribute('src'), img.naturalWidth]);
        }""",
        ARTICLE,
    )
    broken = [src for src, width in images if not width]
    assert not broken, f"{visit.name}: images that did not load: {broken}"


def test_math_is_typeset_offline(visit):
    report = visit.page.evaluate(
        """(selector) => {
            const article = document.querySelector(selector);
            const maths = Array.from(article.querySelectorAll('.math'));
            const clone = article.cloneNode(true);
            clone.querySelectorAll(
                'pre, code, .highlight, .cell_output, script, style, mjx-container'
            ).forEach(e => e.remove());
            return {
                math: maths.length,
                untypeset: maths.filter(e => !e.querySelector('mjx-container'))
                    .map(e => e.textContent.slice(0, 80)),
                containers: article.querySelectorAll('mjx-container').length,
                errors: Array.from(article.querySelectorAll('mjx-merror'))
                    .map(e => e.getAttribute('data-mjx-error') || e.textContent),
                text: clone.innerText,
            };
        }""",
        ARTICLE,
    )
    assert not report["untypeset"], f"{visit.name}: math left untypeset: {report['untypeset']}"
    assert not report["errors"], f"{visit.name}: MathJax errors: {report['errors']}"
    if report["math"]:
        assert report["containers"] >= report["math"]
    raw = [d for d in ("\\(", "\\)", "\\[", "\\]", "$$") if d in report["text"]]
    if raw:
        where = report["text"].find(raw[0])
        context = report["text"][max(0, where - 60) : where + 60]
        pytest.fail(f"{visit.name}: raw math delimiters {raw} in the text: ...{context}...")


def test_solutions_hidden_until_clicked(visit):
    page = visit.page
    expected = len(SOLUTION_DIRECTIVE.findall(_source_text(visit.name)))
    solutions = page.locator(f"{ARTICLE} .solution")
    assert solutions.count() == expected, (
        f"{visit.name}: {expected} solution directives in the source, "
        f"{solutions.count()} solutions in the page"
    )
    for i in range(expected):
        solution = solutions.nth(i)
        title = solution.locator(".admonition-title").first.inner_text().strip()
        body = solution.locator("xpath=./*[not(contains(@class, 'admonition-title'))]")
        assert "dropdown" in (solution.get_attribute("class") or ""), f"{title}: not a dropdown"
        assert body.count() > 0, f"{title}: empty solution"
        shown = [body.nth(j).is_visible() for j in range(body.count())]
        assert not any(shown), f"{visit.name}: '{title}' is visible before a click"
        button = solution.locator("button.toggle-button")
        assert button.count() == 1, f"{visit.name}: '{title}' has no toggle button"
        button.click()
        body.first.wait_for(state="visible")
        assert all(body.nth(j).is_visible() for j in range(body.count())), (
            f"{visit.name}: '{title}' is not shown after a click"
        )


def test_colab_link(visit):
    """A notebook page launches its own notebook in Colab; other pages have no such link."""
    links = visit.page.locator("a[href*='colab.research.google.com']")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    expected = [_colab_link(visit.name)] if visit.name in NOTEBOOK_PAGES else []
    assert hrefs == expected, f"{visit.name}: Colab launch links {hrefs}, expected {expected}"


# Sphinx's English stop words (sphinx/search/en.py): never indexed, never found
STOPWORDS = set(
    "a and are as at be but by for if in into is it near no not of on or such that the "
    "their then there these they this to was will with".split()
)


def _search_word(title: str) -> str:
    """The longest word of a title that the search index holds."""
    words = [w for w in re.findall(r"[A-Za-z]{3,}", title) if w.lower() not in STOPWORDS]
    assert words, f"no searchable word in the title {title!r}"
    return max(words, key=len)


@pytest.mark.parametrize("name", PAGES)
def test_search_finds_page(name, browser, server, html_dir):
    html = (html_dir / f"{name}.html").read_text()
    heading = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    assert heading, f"{name} has no <h1>"
    title = re.sub(r"<[^>]+>|#|\s+", " ", heading.group(1))
    word = _search_word(title)
    visit = _open(browser, f"{server}/search.html?q={word}", "search")
    try:
        page = visit.page
        page.wait_for_function(
            "() => /Search finished|did not match/"
            ".test(document.querySelector('#search-results')?.innerText)"
        )
        hrefs = page.eval_on_selector_all(
            "#search-results a", "links => links.map(a => a.getAttribute('href'))"
        )
        errors = visit.console_errors + visit.page_errors
    finally:
        visit.page.context.close()
    found = [h for h in hrefs if h.split("?")[0].split("#")[0].removeprefix("./") == f"{name}.html"]
    assert found, f"searching {word!r} (from the title {title.strip()!r}) does not list {name}"
    assert not errors, f"errors on the search page: {errors}"
