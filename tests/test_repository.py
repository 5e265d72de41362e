"""Repository hygiene: notebooks committed without outputs, lint clean, lessons numbered alike in every folder."""

import subprocess
import sys

import nbformat

from course_lib.notebooks import ROOT, course_notebooks


def test_notebooks_have_no_outputs():
    for path in course_notebooks():
        nb = nbformat.read(path, as_version=4)
        dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not dirty, f"{path.relative_to(ROOT)} has outputs in cells {dirty}: run nbstripout on it"


def test_ruff_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "course_lib", "tests", "benchmarks", "notebooks",
                             "exercises", "solutions"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_every_exercise_has_a_lesson_and_a_solution():
    for exercise in (ROOT / "exercises").glob("*.ipynb"):
        assert (ROOT / "notebooks" / exercise.name).exists(), f"no lesson for {exercise.name}"
        assert (ROOT / "solutions" / exercise.name).exists(), f"no solution for {exercise.name}"
        assert (ROOT / "course_lib" / "exercises" / f"ex{exercise.stem}.py").exists()


def test_the_dev_container_runs_the_readme_install_and_opens_lesson_00():
    import json
    import re

    container = json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text())
    readme = (ROOT / "README.md").read_text()
    first = re.search(r"```bash\n(python3\.11 -m venv .*?)\n```", readme)[1]
    install, _, open_lab = first.rpartition(" && ")
    assert container["postCreateCommand"] == install
    assert container["postAttachCommand"].startswith(open_lab)
    assert (ROOT / open_lab.split()[-1]).is_file()
