"""How long each course notebook takes to run, cell by cell. Prints JSON with --json.

    python benchmarks/notebook_times.py --json notebooks/01_prompt_engineering.ipynb

For each notebook: total seconds, and `evaluation_s`, the seconds spent in cells that score prompt variants
(cells calling compare_prompts, evaluate_prompt or chat_many). Lesson 01 promises its evaluations take at
most 3 minutes on 2 CPU cores with the local default.
Run it alone: another model process on the same cores (a test run, another benchmark) slows both far more
than twice, and every timing here with it.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path

EVALUATION_CALLS = ("compare_prompts(", "evaluate_prompt(", "chat_many(")


def _seconds(cell) -> float:
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def time_notebook(path: Path, timeout: int = 1800) -> dict:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    cells = [(i, _seconds(c), c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "evaluation_s": round(sum(s for _, s, src in cells if any(k in src for k in EVALUATION_CALLS)), 1),
        "slowest_cells": [{"cell": i, "seconds": round(s, 1), "starts": src.splitlines()[0][:60] if src else ""}
                          for i, s, src in sorted(cells, key=lambda c: -c[1])[:5]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to time (default: every lesson)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    paths = args.notebooks or sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    report = {str(p): time_notebook(p.resolve()) for p in paths}
    print(json.dumps(report) if args.json else json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
