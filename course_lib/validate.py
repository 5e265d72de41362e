"""Run course notebooks against the configured provider and report pass/fail with timings; read learners' progress.

    python -m course_lib validate                 # every notebook: lessons, exercises, solutions
    python -m course_lib validate 02              # one lesson's three notebooks
    python -m course_lib progress [folder]        # which exercises a learner's saved notebooks show as Correct

`validate` is what an instructor runs the day before a workshop, with the room's provider configured: it first
checks that the provider answers (one line saying what to fix if not), then executes each notebook in a fresh
kernel, as a learner would, and exits 1 if anything failed.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from .config import LOCAL_CHAT_MODEL, load_settings
from .datasets import load_prices
from .doctor import run as run_doctor
from .llm import release_local_model
from .notebooks import FOLDERS, ROOT, course_notebooks, exercise_module
from .pricing import request_cost

CHECK_LINE = re.compile(r"^(Correct|Incorrect|Not attempted): (q\d+) · (.*?)(?: — |$)", re.MULTILINE)


def select_notebooks(lessons: list[str] | None = None, folders: tuple[str, ...] = FOLDERS,
                     root: Path = ROOT) -> list[Path]:
    """Course notebooks in run order, limited to lessons whose name starts with one of `lessons` ("02", "02_rag")."""
    found = [p for p in course_notebooks(root) if p.parent.name in folders]
    if lessons:
        found = [p for p in found if any(p.stem.startswith(lesson) for lesson in lessons)]
    return found


def provider_problem() -> str | None:
    """None when the configured provider answers the calls the lessons make (`doctor`'s checks); otherwise the
    sentence that says what to fix."""
    import io


    report = io.StringIO()
    failed = run_doctor(out=report)
    release_local_model()  # the notebooks' kernels start their own engine; this one would only hold memory
    if not failed:
        return None
    failure = next((line for line in report.getvalue().splitlines() if line.startswith("FAIL")), report.getvalue())
    return failure.split(": ", 1)[-1]  # "FAIL  chat: Could not reach …" -> "Could not reach …"


def _first_error(exc: Exception) -> str:
    """One line from a failed notebook: the cell and the exception, without the traceback."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    if isinstance(exc, CellTimeoutError):
        return "a cell ran past the time limit"
    if isinstance(exc, CellExecutionError):
        name, value = getattr(exc, "ename", "Error"), getattr(exc, "evalue", "")
        return f"{name}: {value}".strip()[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


def execute_notebook(nb, folder: Path, timeout: int = 1800) -> None:
    """Execute `nb` in place, in a fresh python3 kernel started in `folder`. The kernel talks over local (ipc)
    sockets rather than TCP ports: nothing listens on the network, and it prints no warning about unencrypted TCP."""
    import tempfile

    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="course-kernel-") as sockets:
        km = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
        try:
            NotebookClient(nb, km=km, timeout=timeout, resources={"metadata": {"path": str(folder)}}).execute()
        finally:
            # A client given our kernel manager leaves the kernel running: stop it, or every notebook's kernel
            # (each holding its own copy of the model) would stay in memory until the command ends.
            if km.has_kernel:
                km.shutdown_kernel(now=True)


def failure_reason(nb, exc: Exception) -> str:
    """Where and why a notebook failed, in one line: 'cell 7: AssertionError: ...'."""
    failed_cell = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code" and any(
        o.get("output_type") == "error" for o in c.get("outputs", []))), None)
    where = f"cell {failed_cell}: " if failed_cell is not None else ""
    return where + _first_error(exc)


def run_notebook(path: Path, timeout: int = 1800) -> tuple[bool, float, str]:
    """Execute one notebook in a fresh kernel from its own folder; (passed, seconds, one-line reason)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    try:
        execute_notebook(nb, path.parent, timeout)
    except Exception as exc:  # noqa: BLE001 - report, go on with the next notebook
        return False, time.perf_counter() - started, failure_reason(nb, exc)
    return True, time.perf_counter() - started, ""


def validate(lessons: list[str] | None = None, folders: tuple[str, ...] = FOLDERS, timeout: int = 1800,
             out=sys.stdout, record_usage: bool = False) -> int:
    """Check the provider, run the chosen notebooks, print one line each and a total; 0 if all passed, else 1.
    `record_usage` (local provider) also writes the tokens each notebook sent to USAGE_FILE."""
    import os
    import tempfile

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    paths = select_notebooks(lessons, folders)
    if not paths:
        say(f"FAIL  no notebook matches {lessons}; lessons are named like 00, 01_prompt_engineering.")
        return 1
    problem = provider_problem()
    if problem:
        say(f"FAIL  provider: {problem}")
        return 1
    failures, total, usage = 0, 0.0, {}
    for path in paths:
        name = str(path.relative_to(path.parent.parent))
        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "usage.jsonl"
            if record_usage:
                os.environ["COURSE_USAGE_LOG"] = str(log)  # the notebook's kernel inherits it
            try:
                passed, seconds, reason = run_notebook(path, timeout)
            finally:
                os.environ.pop("COURSE_USAGE_LOG", None)
            if record_usage:
                usage[name] = _sum_usage(log)
        total += seconds
        failures += not passed
        say(f"{'PASS' if passed else 'FAIL'}  {name:<42} {seconds:7.1f} s" + (f"  {reason}" if reason else ""))
    say(f"{len(paths) - failures} passed, {failures} failed, {total / 60:.1f} min in notebooks")
    if record_usage and not failures:
        write_usage(usage)
        say(f"wrote the tokens each notebook sent to {USAGE_FILE.relative_to(ROOT)}")
    return 1 if failures else 0


USAGE_FILE = ROOT / "course_lib" / "data" / "prompting" / "course_usage.json"  # tokens per notebook, measured


def _sum_usage(log: Path) -> dict:
    import json

    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return {"requests": len(rows), "prompt_tokens": sum(r["prompt_tokens"] for r in rows),
            "completion_tokens": sum(r["completion_tokens"] for r in rows)}


def write_usage(usage: dict) -> None:
    """Merge measured per-notebook token counts into USAGE_FILE, dated."""
    import datetime
    import json


    known = json.loads(USAGE_FILE.read_text()) if USAGE_FILE.exists() else {"notebooks": {}}
    known["notebooks"].update(usage)
    known.update(as_of=datetime.date.today().isoformat(), measured_with=LOCAL_CHAT_MODEL,
                 how="python -m course_lib validate --record-usage (local provider): tokens of every request")
    USAGE_FILE.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")


def estimate_cost(lessons: list[str] | None = None, folders: tuple[str, ...] = FOLDERS, out=sys.stdout) -> int:
    """Print what running the chosen notebooks would cost on the configured chat model, without running them: the
    tokens each notebook sent when measured on the local model (USAGE_FILE) at the course's dated prices."""
    import json


    def say(line: str) -> None:
        print(line, file=out, flush=True)

    if not USAGE_FILE.exists():
        say(f"FAIL  no measured token counts yet ({USAGE_FILE.name}); run `python -m course_lib "
            "validate --record-usage` once on the local provider, then estimate again.")
        return 1
    settings = load_settings()
    prices, usage = load_prices(), json.loads(USAGE_FILE.read_text())
    model = settings.chat_model if settings.chat_model in prices["models"] else "gpt-4o-mini"
    if model != settings.chat_model:
        say(f"NOTE  {settings.chat_model} is not in the course's price table; pricing as {model}.")
    total = 0.0
    for path in select_notebooks(lessons, folders):
        name = str(path.relative_to(path.parent.parent))
        counts = usage["notebooks"].get(name)
        if counts is None:
            say(f"?     {name:<42} not measured yet (python -m course_lib validate --record-usage)")
            continue
        usd = request_cost(model, counts["prompt_tokens"], counts["completion_tokens"], prices)
        total += usd
        say(f"      {name:<42} {counts['requests']:5d} requests {counts['prompt_tokens']:9,d} + "
            f"{counts['completion_tokens']:7,d} tokens  ${usd:.4f}")
    say(f"about ${total:.2f} on {model} at the prices of {prices['as_of']} (token counts measured {usage['as_of']} "
        f"with {usage['measured_with']}; a hosted model's tokenizer counts a little differently)")
    return 0


def read_progress(folder: Path | str | None = None) -> dict[str, dict[str, str]]:
    """{lesson: {question: outcome}} from the saved outputs of a learner's exercise notebooks (last check wins).

    Questions never checked count as Not attempted. Only what the notebook shows is read: save it after running.
    """
    import nbformat


    folder = Path(folder) if folder else ROOT / "exercises"
    progress: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        try:
            questions = {q.name: "Not attempted" for q in exercise_module(path).progress.questions}
        except ModuleNotFoundError:
            continue  # not a course exercise notebook
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                text = output.get("text") or output.get("data", {}).get("text/plain", "")
                for outcome, name, _title in CHECK_LINE.findall(text if isinstance(text, str) else "".join(text)):
                    if name in questions:
                        questions[name] = outcome
        progress[path.stem] = questions
    return progress


def progress_report(folder: Path | str | None = None) -> str:
    """Plain-text table: one line per lesson with its solved count and each question's outcome."""
    marks = {"Correct": "✔", "Incorrect": "✘", "Not attempted": "·"}
    lines = []
    for lesson, questions in read_progress(folder).items():
        done = sum(o == "Correct" for o in questions.values())
        cells = " ".join(f"{name}{marks[o]}" for name, o in questions.items())
        lines.append(f"{lesson:<24} {done}/{len(questions)} Correct   {cells}")
    return "\n".join(lines + ["✔ Correct  ✘ Incorrect  · Not attempted (from the saved notebooks)"])


def progress_widget(folder: Path | str | None = None):
    """The progress table as HTML in a notebook (re-run the cell to refresh)."""
    from IPython.display import HTML

    rows = []
    for lesson, questions in read_progress(folder).items():
        done = sum(o == "Correct" for o in questions.values())
        colour = {"Correct": "#1a7f37", "Incorrect": "#cf222e", "Not attempted": "#6e7781"}
        cells = " ".join(f'<span style="color:{colour[o]}" title="{o}">{n}</span>' for n, o in questions.items())
        rows.append(f"<tr><td>{lesson}</td><td>{done}/{len(questions)}</td><td>{cells}</td></tr>")
    return HTML(f"<table><tr><th>lesson</th><th>Correct</th><th>questions</th></tr>{''.join(rows)}</table>")
