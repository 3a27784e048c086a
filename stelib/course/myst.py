"""MyST Markdown to plain Markdown, for notebooks read outside the book (chapter-independent).

Jupyter and Colab render CommonMark, not MyST: directives (```{exercise}```, ```{note}```),
roles (``{cite}`key` ``) and targets (``(label)=``) would show as raw syntax. This module
rewrites them into readable Markdown: exercises become bold numbered headings,
admonitions become block quotes, citations become "(Author Year)", references become
their text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

OPEN = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}\s*(?P<arg>.*)$")
OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*)$")
ROLE = re.compile(r"\{(?P<name>[\w:-]+)\}`(?P<content>[^`]*)`")
TARGET = re.compile(r"^\((?P<label>[\w.:-]+)\)=\s*$")
ADMONITIONS = {
    "note": "Note",
    "tip": "Tip",
    "hint": "Hint",
    "important": "Important",
    "warning": "Warning",
    "caution": "Caution",
    "attention": "Attention",
    "danger": "Danger",
    "error": "Error",
    "seealso": "See also",
}
DROPPED = {"bibliography", "toctree", "tableofcontents", "solution-start", "solution-end"}


@dataclass
class Context:
    """What the conversion needs to know beyond one cell.

    Attributes:
        citations: BibTeX key -> "Author Year" text.
        labels: cross-reference label -> readable text (such as "Exercise 2.1").
        solutions: ``"keep"`` (shown inside ``<details>``) or ``"drop"``.
    """

    citations: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    solutions: str = "keep"


def _bib_field(entry: str, name: str) -> str:
    match = re.search(rf"\b{name}\s*=\s*[{{\"](.*?)[}}\"]\s*,?\s*\n", entry, re.S | re.I)
    return match.group(1) if match else ""


def _strip_braces(text: str) -> str:
    text = re.sub(r"\\[`'\"^~]\{?(\w)\}?", r"\1", text)
    return text.replace("{", "").replace("}", "")


def load_citations(bib_path: Path) -> dict[str, str]:
    """Read ``references.bib`` into key -> "Author Year" ("Author and Other Year", "Author et al. Year")."""
    citations = {}
    text = Path(bib_path).read_text(encoding="utf-8")
    for match in re.finditer(r"@\w+\{([^,\s]+),(.*?)\n\}", text, re.S):
        key, entry = match.group(1), match.group(2) + "\n"
        authors = [a.strip() for a in _strip_braces(_bib_field(entry, "author")).split(" and ")]
        surnames = [a.split(",")[0].strip() if "," in a else a.split()[-1] for a in authors if a]
        if len(surnames) > 2:
            who = f"{surnames[0]} et al."
        else:
            who = " and ".join(surnames)
        citations[key] = f"{who} {_bib_field(entry, 'year')}".strip()
    return citations


def _role(match: re.Match, ctx: Context) -> str:
    name, content = match.group("name"), match.group("content")
    if name.startswith("cite"):
        keys = [k.strip() for k in content.split(",") if k.strip()]
        texts = [ctx.citations.get(k, k) for k in keys]
        if name == "cite:t":
            return "; ".join(re.sub(r" (\d{4}\w?)$", r" (\1)", t) for t in texts)
        return "(" + "; ".join(texts) + ")"
    if name == "math":
        return f"${content}$"
    explicit = re.match(r"^(?P<text>.*?)\s*<(?P<target>[^>]+)>$", content, re.S)
    if explicit:
        return explicit.group("text")
    if name in ("ref", "numref", "eq", "doc", "prf:ref"):
        return ctx.labels.get(content, content)
    return content


def convert_roles(text: str, ctx: Context) -> str:
    """Rewrite every ``{role}`content` `` in ``text``."""
    return ROLE.sub(lambda m: _role(m, ctx), text)


def _closing(lines: list[str], start: int, fence: str) -> int:
    """Index of the line closing the directive opened at ``start`` (or ``len(lines)``)."""
    depth = 0
    for i in range(start + 1, len(lines)):
        line = lines[i].strip()
        if OPEN.match(line) and line.startswith(fence) and not line.startswith(fence + fence[0]):
            depth += 1
        elif line == fence:
            if depth == 0:
                return i
            depth -= 1
    return len(lines)


def _render(name: str, arg: str, options: dict[str, str], body: str, ctx: Context) -> str:
    if name in DROPPED:
        return ""
    if name == "exercise":
        title = ctx.labels.get(options.get("label", ""), "Exercise")
        heading = f"**{title}" + (f" ({convert_roles(arg, ctx)})" if arg else "") + "**"
        return f"{heading}\n\n{body}".rstrip()
    if name == "solution":
        if ctx.solutions == "drop":
            return ""
        return f"<details>\n<summary>Solution</summary>\n\n{body}\n\n</details>"
    if name in ADMONITIONS or name == "admonition":
        title = convert_roles(arg, ctx) if name == "admonition" else ADMONITIONS[name]
        quoted = "\n".join(f"> {line}".rstrip() for line in body.split("\n"))
        return f"> **{title}.**\n>\n{quoted}"
    if name in ("math", "equation"):
        return f"$$\n{body}\n$$"
    if name == "figure":
        return f"![{body.strip()}]({arg})"
    if name in ("code-cell", "code-block", "code"):
        return f"```{arg}\n{body}\n```"
    if name == "dropdown":
        return f"<details>\n<summary>{convert_roles(arg, ctx)}</summary>\n\n{body}\n\n</details>"
    return body


def to_markdown(text: str, ctx: Context) -> str:
    """Convert one MyST Markdown cell to plain (CommonMark + HTML) Markdown."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = OPEN.match(lines[i].strip())
        if TARGET.match(lines[i].strip()) or lines[i].startswith("% "):
            i += 1
            continue
        if not match:
            out.append(convert_roles(lines[i], ctx))
            i += 1
            continue
        end = _closing(lines, i, match.group("fence"))
        inner = lines[i + 1 : end]
        options = {}
        while inner and OPTION.match(inner[0]):
            option = OPTION.match(inner[0])
            options[option.group("key")] = option.group("value")
            inner = inner[1:]
        raw = "\n".join(inner).strip("\n")
        body = (
            raw
            if match.group("name") in ("math", "equation", "code-cell", "code-block", "code")
            else to_markdown(raw, ctx)
        )
        out.append(_render(match.group("name"), match.group("arg").strip(), options, body, ctx))
        i = end + 1
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


def directive_names(text: str) -> list[str]:
    """The directives opened in ``text`` (to detect exercise and solution cells)."""
    return [m.group("name") for line in text.split("\n") if (m := OPEN.match(line.strip()))]


def directive_option(text: str, name: str, key: str) -> str | None:
    """The value of option ``key`` of the first ``name`` directive in ``text``."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        match = OPEN.match(line.strip())
        if match and match.group("name") == name:
            if key == "arg":
                return match.group("arg").strip()
            for option_line in lines[i + 1 :]:
                option = OPTION.match(option_line.strip())
                if not option:
                    break
                if option.group("key") == key:
                    return option.group("value").strip()
    return None
