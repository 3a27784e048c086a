"""``stelib-course``: student and Colab notebooks, and autograding, for instructors.

    stelib-course student OUT_DIR   notebooks without solutions, exercises as plain Markdown
    stelib-course colab OUT_DIR     notebooks that read cleanly in Colab, solutions collapsed
    stelib-course grade NB... --out grades.csv   grade submissions with the checkers

Also ``python -m stelib.course``. See the instructor guide in the book.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stelib-course", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for kind, text in (
        ("student", "write student notebooks (solutions removed)"),
        ("colab", "write Colab-ready notebooks (solutions collapsed, install cell)"),
    ):
        sub = commands.add_parser(kind, help=text)
        sub.add_argument("out_dir", type=Path)
        sub.add_argument("--notebooks", type=Path, default=Path("notebooks"), help="source folder")
        sub.add_argument(
            "--root",
            type=Path,
            default=Path("."),
            help="folder with _config.yml and references.bib",
        )
    sub = commands.add_parser("grade", help="grade submitted notebooks into a CSV")
    sub.add_argument("notebooks", type=Path, nargs="+")
    sub.add_argument("--out", type=Path, default=Path("grades.csv"))
    sub.add_argument("--timeout", type=float, default=180, help="seconds per notebook")
    args = parser.parse_args(argv)

    if args.command == "grade":
        from .grade import grade

        grade(args.notebooks, args.out, args.timeout)
        print(f"wrote {args.out}")
        return 0
    from .notebooks import write_all

    written = write_all(args.command, args.notebooks, args.out_dir, args.root)
    print(f"wrote {len(written)} {args.command} notebooks under {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
