"""Write each page's scripts once.

With Sphinx 7.4, sphinx-thebe's inline ``const THEBE_JS_URL = ...`` script is added to
every page twice; the second copy throws "Identifier 'THEBE_JS_URL' has already been
declared" in the reader's console. This drops exact duplicates before the page is written.
"""

from __future__ import annotations


def dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = tuple(sorted((getattr(script, "attributes", {}) or {}).items()))
        key = (str(getattr(script, "filename", script) or ""), attributes)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app) -> dict:
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
