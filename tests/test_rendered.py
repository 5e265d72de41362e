"""Every figure the README, the instructor guide and the lessons show is rendered from a recorded result file
(benchmarks/results/*.json) by benchmarks/render.py; this fails when a rendered copy is out of date."""

import subprocess
import sys

from conftest import ROOT


def test_rendered_figures_are_current():
    result = subprocess.run([sys.executable, "benchmarks/render.py", "--check"], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_marked_place_names_a_piece_the_renderer_knows():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import render
    finally:
        sys.path.pop(0)
    for path in render.targets():
        for match in render.MARKED.finditer(path.read_text(encoding="utf-8")):
            render.piece(match["name"])  # raises KeyError for an unknown name
