"""Re-execute notebooks in place, recording cell timings (``make execute``).

    python -m stelib._execute notebooks/01_motivation.ipynb [...]

Each notebook runs in a fresh kernel with its own folder as the working directory,
exactly as nbval and Colab run it; nbclient stores each cell's start and end times in
the cell metadata, from which the book's status page computes execution times.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path, timeout: int = 600) -> float:
    """Execute ``path`` in place and return the wall time in seconds."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nbformat.write(nb, path)
    return seconds


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m stelib._execute NOTEBOOK.ipynb [...]", file=sys.stderr)
        return 2
    total = 0.0
    for name in argv:
        seconds = execute(Path(name))
        total += seconds
        print(f"{name}: {seconds:.1f} s")
    print(f"total: {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
