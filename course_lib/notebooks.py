"""Course notebooks as files: where they are, and the solutions made from the exercises. Used by the CLI and tests.

`python -m course_lib solutions` writes solutions/NN_name.ipynb from exercises/NN_name.ipynb: every answer cell
(a code cell with `____` that calls `qN.check()`) gets qN's reference solution, kept once in
course_lib/exercises/exNN_name.py. Everything else is copied, so the two notebooks never drift apart.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from .files import write_atomic

ROOT = Path(__file__).resolve().parent.parent  # the course repository (course_lib is installed editable)
FOLDERS = ("notebooks", "exercises", "solutions")
CHECK_CALL = re.compile(r"^\s*(q\d+)\.check\(\)\s*$", re.MULTILINE)
ALL_CORRECT = ("# Every reference solution above must pass its check.\n"
               "assert all(q.status == \"Correct\" for q in progress.questions), progress")
SOLUTION_BANNER = ("> **Solutions.** Made from `exercises/{name}` by `python -m course_lib solutions`; "
                   "every check below should say *Correct*. Try the exercises first!")


def course_notebooks(root: Path = ROOT) -> list[Path]:
    """Every notebook of the course, lessons first, then exercises, then solutions, in lesson order."""
    return [p for folder in FOLDERS for p in sorted((root / folder).glob("[0-9][0-9]_*.ipynb"))]


def exercise_module(notebook: Path):
    """The question module of an exercise notebook: exercises/01_prompt_engineering.ipynb -> ex01_prompt_engineering."""
    return importlib.import_module(f"course_lib.exercises.ex{notebook.stem}")


def answer_cells(nb) -> list[tuple[int, str]]:
    """(cell index, question name) of each answer cell: code with a placeholder and a `qN.check()` line."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        match = CHECK_CALL.search(cell.source)
        if match and "____" in cell.source:
            found.append((i, match.group(1)))
    return found


def make_solution(exercise_path: Path):
    """The solutions notebook (an nbformat object) for one exercise notebook."""
    import copy

    import nbformat

    nb = nbformat.read(exercise_path, as_version=4)
    module = exercise_module(exercise_path)
    solved = copy.deepcopy(nb)
    for index, name in answer_cells(nb):
        question = getattr(module, name)
        solved.cells[index].source = f"{question.reference_code()}\n{name}.check()"
    banner = nbformat.v4.new_markdown_cell(SOLUTION_BANNER.format(name=exercise_path.name))
    banner.id = "solutions-banner"  # fixed, so regenerating gives the same file
    solved.cells.insert(1, banner)
    verdict = nbformat.v4.new_code_cell(ALL_CORRECT)
    verdict.id = "solutions-all-correct"
    solved.cells.append(verdict)  # nbval runs this: a solution that stops passing its check fails CI
    for cell in solved.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.validator.normalize(solved)
    return solved


def write_solutions(root: Path = ROOT, check_only: bool = False) -> int:
    """Write (or, with check_only, compare) every solutions notebook; returns 1 if one is missing or stale."""
    import nbformat

    stale = []
    for exercise in sorted((root / "exercises").glob("[0-9][0-9]_*.ipynb")):
        target = root / "solutions" / exercise.name
        text = nbformat.writes(make_solution(exercise)) + "\n"
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        stale.append(target)
        if not check_only:
            target.parent.mkdir(exist_ok=True)
            write_atomic(target, text)
    for path in stale:
        print(f"{'out of date' if check_only else 'wrote'}: {path.relative_to(root)}")
    if check_only and stale:
        print("Run `python -m course_lib solutions` to regenerate them.")
        return 1
    return 0
