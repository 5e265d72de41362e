"""Publish the course: a static site of the executed lessons, and slides made from the lesson notebooks.

    python -m course_lib site   [--out build/site]   [lessons...]   # run each lesson, write HTML + index.html
    python -m course_lib slides [--out build/slides] [lessons...]   # one reveal.js deck per lesson, not executed

The site is for reading without running anything: every page shows the outputs computed when it was built, on
the configured provider. Slides start a new slide at every `#`/`##` heading of a lesson. Both write into a
temporary folder first and replace the output folder only when everything was built.

Both work with no network: every script, stylesheet and font the pages load is copied from installed packages into
the output's `_static/` folder (reveal.js 5 from sphinx-revealjs; require.js, jQuery and MathJax from nbclassic),
links between notebooks point at the pages built beside them, and saved widget state is left out (a widget needs
a live kernel; its text form is shown).
"""

from __future__ import annotations

import html
import importlib.util
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .files import replace_folder
from .notebooks import ROOT
from .validate import execute_notebook, failure_reason

INDEX = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;line-height:1.5}}
td,th{{padding:.3rem .8rem;text-align:left}}</style></head><body>
<h1>{title}</h1><p>{intro}</p><table><tr><th>lesson</th><th>what it covers</th><th>built</th></tr>{rows}</table>
</body></html>
"""


STATIC = "./_static"  # folder of the output that holds the copied scripts, styles and fonts ("./": module imports
# accept only explicit relative paths)
ASSETS = {  # name under _static/: (installed package, path inside it)
    "reveal/dist": ("sphinx_revealjs", "_static/revealjs/dist"),  # reveal.js 5, its themes and their fonts
    "reveal/plugin/notes": ("sphinx_revealjs", "_static/revealjs/plugin/notes"),  # speaker notes (the S key)
    "require.js": ("nbclassic", "static/components/requirejs/require.js"),
    "jquery.min.js": ("nbclassic", "static/components/jquery/jquery.min.js"),
    "MathJax": ("nbclassic", "static/components/MathJax"),  # MathJax 2.7, which loads its parts from this folder
}
MATHJAX_FONTS = """MathJax.Hub.Config({"HTML-CSS": {availableFonts: ["STIX-Web"], preferredFont: "STIX-Web",
                                  webFont: "STIX-Web", imageFont: null}});  // the fonts nbclassic's copy ships
MathJax.Ajax.loadComplete("[MathJax]/config/local/course.js");
"""
NO_MERMAID = "data:text/javascript,export default {initialize() {}, run() {}};"  # the notebooks draw no mermaid
# diagrams: a module that does nothing, inline, since a browser refuses module scripts from file:// pages
OFFLINE = {  # nbconvert's settings that point at the copies instead of a CDN
    "require_js_url": f"{STATIC}/require.js",
    "jquery_url": f"{STATIC}/jquery.min.js",
    "mathjax_url": f"{STATIC}/MathJax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe,local/course",
    "mermaid_js_url": NO_MERMAID,
    "mermaid_layout_elk_js_url": NO_MERMAID,
}
NOTEBOOK_LINK = re.compile(r'href="(?:\.\./(?P<folder>\w+)/)?(?P<stem>\d\d_\w+)\.ipynb"')


def copy_assets(out: Path, slides: bool) -> None:
    """Copy what the pages load into `out/_static`, from the installed packages named in ASSETS (reveal.js only
    for slides)."""
    static = out / STATIC
    for name, (package, inside) in ASSETS.items():
        if name.startswith("reveal") and not slides:
            continue
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"The package {package} is not installed; run `pip install -r requirements.txt` "
                               "(it carries the files the pages need offline).")
        source = Path(spec.submodule_search_locations[0]) / inside
        target = static / name
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (static / "MathJax" / "config" / "local").mkdir(parents=True, exist_ok=True)
    (static / "MathJax" / "config" / "local" / "course.js").write_text(MATHJAX_FONTS, encoding="utf-8")


def local_links(page: str, built: set[str], suffix: str) -> str:
    """Links to notebooks become links to their pages when built beside them, else plain text (no dead links)."""
    def swap(match: re.Match) -> str:
        if match["folder"] in (None, "notebooks") and match["stem"] in built:
            return f'href="{match["stem"]}{suffix}"'
        where = f"{match['folder'] or 'notebooks'}/{match['stem']}.ipynb"
        return f'title="open {where} in JupyterLab"'
    return NOTEBOOK_LINK.sub(swap, page)


def without_widget_state(nb):
    """The notebook without saved widget state: rendering it would fetch the widget manager from a CDN."""
    nb.metadata.pop("widgets", None)
    return nb


def start_build(out: Path | str, lessons: list[str] | None, slides: bool) -> tuple[Path, list[Path], Path]:
    """(output folder, the lessons to build, a new temporary folder beside the output holding the copied assets)."""
    out = Path(out)
    paths = lesson_notebooks(lessons)
    if not paths:
        raise ValueError(f"no lesson matches {lessons}; lessons are named like 00, 02_rag.")
    out.parent.mkdir(parents=True, exist_ok=True)
    built = Path(tempfile.mkdtemp(prefix=".slides-" if slides else ".site-", dir=out.parent))
    copy_assets(built, slides)
    return out, paths, built


HEADING = re.compile(r"^#{1,2} ", re.MULTILINE)  # a `#` or `##` heading starts a slide


def as_slides(nb):
    """The notebook with a new slide at every `#`/`##` heading: a markdown cell with a heading inside is cut there,
    so the text before it stays on the slide before."""
    import nbformat

    cells = []
    for cell in nb.cells:
        if cell.cell_type != "markdown" or "```" in cell.source:
            cell.metadata["slideshow"] = {"slide_type": "-"}
            cells.append(cell)
            continue
        starts = [m.start() for m in HEADING.finditer(cell.source)]
        bounds = zip([0, *starts], [*starts, len(cell.source)], strict=True)
        pieces = [cell.source[a:b] for a, b in bounds if cell.source[a:b].strip()]
        for piece in pieces:
            part = nbformat.v4.new_markdown_cell(piece.strip("\n"))
            part.metadata["slideshow"] = {"slide_type": "slide" if HEADING.match(piece) else "-"}
            cells.append(part)
    nb.cells = cells
    return nb


def lesson_notebooks(lessons: list[str] | None = None, root: Path = ROOT) -> list[Path]:
    paths = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    return [p for p in paths if not lessons or any(p.stem.startswith(lesson) for lesson in lessons)]


def _title_and_goal(nb) -> tuple[str, str]:
    first = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    lines = [line.strip() for line in first.splitlines() if line.strip()]
    title = lines[0].lstrip("# ") if lines else "lesson"
    goal = next((line for line in lines[1:] if not line.startswith(("*", "-", "#"))), "")
    return title, goal


def build_site(out: Path | str = ROOT / "build" / "site", lessons: list[str] | None = None, execute: bool = True,
               timeout: int = 1800, say=print) -> Path:
    """Execute each lesson notebook (unless execute=False) and write it as HTML, with an index page."""
    import nbformat
    from nbconvert import HTMLExporter

    out, paths, built = start_build(out, lessons, slides=False)
    exporter = HTMLExporter(template_name="lab", **OFFLINE)
    names = {p.stem for p in paths}
    rows = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        started = time.perf_counter()
        if execute:
            try:
                execute_notebook(nb, path.parent, timeout)
            except Exception as exc:  # noqa: BLE001 - one line naming the notebook and cell; the old site stays
                shutil.rmtree(built, ignore_errors=True)
                raise RuntimeError(f"{path.parent.name}/{path.name} failed, {failure_reason(nb, exc)}. Run "
                                   "`python -m course_lib validate` for every notebook's status.") from None
        body, _ = exporter.from_notebook_node(without_widget_state(nb))
        (built / f"{path.stem}.html").write_text(local_links(body, names, ".html"), encoding="utf-8")
        title, goal = _title_and_goal(nb)
        seconds = time.perf_counter() - started
        rows.append(f'<tr><td><a href="{path.stem}.html">{html.escape(title)}</a></td><td>{html.escape(goal[:200])}'
                    f"</td><td>{'executed in %.0f s' % seconds if execute else 'not executed'}</td></tr>")
        say(f"wrote {path.stem}.html ({seconds:.0f} s)")
    (built / "index.html").write_text(INDEX.format(
        title="Customizing large language models", rows="".join(rows),
        intro=f"The course's lessons as run on {time.strftime('%Y-%m-%d')}; open a lesson to read it with its "
              "outputs. To run them yourself, see the repository's README."), encoding="utf-8")
    replace_folder(built, out)
    return out


def build_slides(out: Path | str = ROOT / "build" / "slides", lessons: list[str] | None = None, say=print) -> Path:
    """One reveal.js deck per lesson: a new slide at each heading, code and prose as in the notebook."""
    import nbformat
    from nbconvert import SlidesExporter

    out, paths, built = start_build(out, lessons, slides=True)
    exporter = SlidesExporter(reveal_url_prefix=f"{STATIC}/reveal", reveal_theme="white", **OFFLINE)
    names = {p.stem for p in paths}
    for path in paths:
        nb = as_slides(nbformat.read(path, as_version=4))
        body, _ = exporter.from_notebook_node(without_widget_state(nb))
        (built / f"{path.stem}.slides.html").write_text(local_links(body, names, ".slides.html"), encoding="utf-8")
        say(f"wrote {path.stem}.slides.html")
    replace_folder(built, out)
    return out


def main_site(out: str | None, lessons: list[str] | None, execute: bool) -> int:
    try:
        where = build_site(out or ROOT / "build" / "site", lessons, execute)
    except Exception as exc:  # noqa: BLE001 - one line, then exit 1
        print(f"FAIL  site: {type(exc).__name__}: {str(exc)[:300]}", file=sys.stderr)
        return 1
    print(f"site ready: {where / 'index.html'}")
    return 0


def main_slides(out: str | None, lessons: list[str] | None) -> int:
    try:
        where = build_slides(out or ROOT / "build" / "slides", lessons)
    except Exception as exc:  # noqa: BLE001
        print(f"FAIL  slides: {type(exc).__name__}: {str(exc)[:300]}", file=sys.stderr)
        return 1
    print(f"slides ready in {where} (open a .slides.html file in a browser)")
    return 0
