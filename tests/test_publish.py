"""`course_lib slides` and `course_lib site` work in a room with no internet: every script, stylesheet, font and
link in the pages they write resolves to a file in the output folder (nothing is fetched from a CDN)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from course_lib.publish import build_site, build_slides

REFERENCE = re.compile(r"""(?:\bsrc|\bhref)\s*=\s*["']([^"']+)["']""")  # attributes that load or link a file
CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)""")  # stylesheets' fonts, images and @imports
JS_IMPORT = re.compile(r"""\bimport\s*(?:\(\s*|[\w{}\s,*]+\s+from\s+)["']([^"']+)["']""")  # module scripts


def references(page: Path) -> list[tuple[Path, str]]:
    """(file it is written in, reference) for every file an HTML page, and every stylesheet it loads, points at."""
    found, pending, seen = [], [page], set()
    while pending:
        current = pending.pop()
        if current in seen or not current.is_file():
            continue
        seen.add(current)
        text = current.read_text(encoding="utf-8", errors="replace")
        patterns = (REFERENCE, CSS_URL, JS_IMPORT) if current.suffix == ".html" else (CSS_URL,)
        for pattern in patterns:
            for ref in pattern.findall(text):
                if ref.startswith(("#", "data:", "mailto:")) or "{{" in ref or "${" in ref:
                    continue
                found.append((current, ref))
                if urlsplit(ref).path.endswith(".css") and not urlsplit(ref).scheme:
                    pending.append((current.parent / urlsplit(ref).path).resolve())
    return found


def off_machine_or_missing(out: Path) -> list[str]:
    """Every reference in the HTML under `out` that points off the machine or at no file in `out`."""
    bad = []
    for page in sorted(out.rglob("*.html")):
        for where, ref in references(page):
            parts = urlsplit(ref)
            if parts.scheme or ref.startswith("//"):
                bad.append(f"{where.relative_to(out)}: {ref} points off the machine")
                continue
            target = (where.parent / parts.path).resolve()
            if not target.is_file() or out.resolve() not in target.parents:
                bad.append(f"{where.relative_to(out)}: {ref} is not a file in the output folder")
    return bad


def test_the_checker_finds_what_a_cdn_page_loads(tmp_path):
    """The test below would pass vacuously if the checker missed references; it catches each kind."""
    (tmp_path / "here.css").write_text("@import url(https://fonts.example/x.css); body{background:url(gone.png)}")
    (tmp_path / "p.html").write_text('<script src="https://cdn.example/r.js"></script><link href="here.css">'
                                     '<script type="module">import m from "https://cdn.example/m.mjs";</script>'
                                     '<a href="other.html">x</a><img src="data:image/png;base64,AAAA">')
    bad = off_machine_or_missing(tmp_path)
    assert len(bad) == 5, bad  # the CDN script, the font import, the missing image, the module, the dead link


def test_slides_load_nothing_from_the_network(tmp_path):
    out = build_slides(tmp_path / "slides", say=lambda line: None)
    decks = sorted(out.glob("*.slides.html"))
    assert len(decks) == 5
    assert off_machine_or_missing(out) == []
    deck = decks[1].read_text(encoding="utf-8")
    assert "_static/reveal/dist/reveal.js" in deck and "Reveal.initialize" in deck
    assert 'href="02_rag.slides.html"' in deck  # a link to the next lesson points at its deck


@pytest.mark.parametrize("lessons", [["00", "01"]])
def test_the_site_loads_nothing_from_the_network(tmp_path, lessons):
    out = build_site(tmp_path / "site", lessons, execute=False, say=lambda line: None)
    assert sorted(p.name for p in out.glob("*.html")) == ["00_setup.html", "01_prompt_engineering.html",
                                                           "index.html"]
    assert off_machine_or_missing(out) == []
    page = (out / "00_setup.html").read_text(encoding="utf-8")
    assert 'href="01_prompt_engineering.html"' in page and "_static/MathJax/MathJax.js" in page
