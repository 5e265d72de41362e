"""How long every course notebook takes on the local default: first from an empty course cache, then cached.

    python benchmarks/lesson_times.py                # every notebook, both runs (about 45 minutes on 2 cores)
    python benchmarks/lesson_times.py --root DIR     # the notebooks of another checkout (a git worktree)

Each notebook runs in a fresh kernel, as `python -m course_lib validate` runs it, once with an empty course cache
(what a learner's first run does: the model conversion and every training) and once more with that cache filled.
Writes benchmarks/results/lesson_times.json: seconds per notebook for both runs, each cell's seconds, the slowest
cells. The README's lesson map, the lessons' time estimates and the instructor guide read that file.
Run it alone: another model process on the same cores slows both far more than twice.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path

from record import write_result


def cell_seconds(cell) -> float:
    """Seconds one executed cell took, from the timing nbclient records in its metadata."""
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return round((parse(end) - parse(start)).total_seconds(), 2)


def time_notebook(path: Path) -> dict:
    """Run one notebook in a fresh kernel; its total seconds, whether it passed, and every code cell's seconds."""
    import nbformat

    from course_lib.validate import execute_notebook, failure_reason

    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    try:
        execute_notebook(nb, path.parent)
        error = ""
    except Exception as exc:  # noqa: BLE001 - recorded; the other notebooks still run
        error = failure_reason(nb, exc)
    cells = {i: cell_seconds(c) for i, c in enumerate(nb.cells) if c.cell_type == "code"}
    return {"seconds": round(time.perf_counter() - started, 1), "passed": not error, "error": error,
            "cells_s": cells}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent),
                        help="the course checkout whose notebooks to run (default: this one)")
    parser.add_argument("lessons", nargs="*", help="lesson numbers (default: all)")
    args = parser.parse_args()
    root = Path(args.root).resolve()

    from course_lib.validate import select_notebooks

    paths = select_notebooks(args.lessons or None, root=root)
    notebooks: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="course-cache-") as cache:
        os.environ["COURSE_CACHE_DIR"] = cache  # every kernel inherits it: empty for the first run
        for run in ("first_run", "cached"):
            for path in paths:
                name = str(path.relative_to(root))
                result = time_notebook(path)
                print(f"{run:<9} {name:<42} {result['seconds']:7.1f} s {result['error']}", flush=True)
                entry = notebooks.setdefault(name, {})
                entry[f"{run}_s"] = result["seconds"]
                entry[f"{run}_passed"] = result["passed"]
                entry[f"{run}_error"] = result["error"]
                entry[f"{run}_cells_s"] = result["cells_s"]
    totals = {f"{run}_min": round(sum(n[f"{run}_s"] for n in notebooks.values()) / 60, 1)
              for run in ("first_run", "cached")}
    path = write_result("lesson_times", {"notebooks": notebooks, **totals}, measured=root)
    print(f"first run {totals['first_run_min']} min, cached {totals['cached_min']} min; wrote {path}")


if __name__ == "__main__":
    main()
