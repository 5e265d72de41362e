"""Write every figure the prose shows from the recorded result files, so that no number is typed twice.

    python benchmarks/render.py            # rewrite the rendered places
    python benchmarks/render.py --check    # exit 1, naming each place that is out of date (tests/test_rendered.py)

It writes benchmarks/README.md whole, and the text between `<!-- render:NAME -->` and `<!-- /render -->` in the
README, the instructor guide and each lesson's opening cell. The figures come from
benchmarks/results/*.json, which the benchmark scripts write (see benchmarks/README.md for which script writes
which file).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MARKED = re.compile(r"(<!-- render:(?P<name>[\w-]+) -->)(?P<body>.*?)(<!-- /render -->)", re.DOTALL)
LESSONS = {"00": "Setup", "01": "Prompt engineering", "02": "RAG", "03": "Fine-tuning", "04": "Combining"}


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def minutes(seconds: float) -> str:
    """'under a minute', 'about 1 minute', 'about 13 minutes'."""
    if seconds < 45:
        return "under a minute"
    whole = max(1, round(seconds / 60))
    return f"about {whole} minute{'s' if whole > 1 else ''}"


def machine(record: dict) -> str:
    m = record["machine"]
    return f"{m['cores']} cores of an {m['cpu']} with {'AVX-512' if m['avx512'] else 'AVX2'}, {m['memory_gib']} GiB"


def source(record: dict, name: str) -> str:
    """Where a figure comes from; the file itself holds the date and the commit."""
    return f"`benchmarks/results/{name}.json`, {machine(record)}"


def lesson_seconds(times: dict, folder: str, lesson: str, run: str) -> float:
    return sum(v[f"{run}_s"] for k, v in times["figures"]["notebooks"].items()
               if k.startswith(f"{folder}/{lesson}_"))


# -- the rendered pieces ---------------------------------------------------------------------------------------

def piece(name: str) -> str:
    """The text of one marked place."""
    if name in SENTENCES:
        return service_piece(name)
    times = load("lesson_times")
    if times is None:
        return "(not measured yet: run `python benchmarks/lesson_times.py`)"
    if name == "lesson-times":
        rows = ["| # | lesson | the notebook computes, first run | again, adapters cached | exercises + solutions |",
                "|---|---|---|---|---|"]
        for number, title in LESSONS.items():
            practice = sum(lesson_seconds(times, f, number, "cached") for f in ("exercises", "solutions"))
            rows.append(f"| {number} | {title} | {minutes(lesson_seconds(times, 'notebooks', number, 'first_run'))} "
                        f"| {minutes(lesson_seconds(times, 'notebooks', number, 'cached'))} | {minutes(practice)} |")
        total = times["figures"]
        rows.append(f"\nEvery notebook, exercises and solutions included: {minutes(total['first_run_min'] * 60)} "
                    f"on a first run, {minutes(total['cached_min'] * 60)} once the adapters are cached "
                    f"({source(times, 'lesson_times')}).")
        return "\n" + "\n".join(rows) + "\n"
    kind, _, number = name.partition("-")
    if kind == "lesson" and number in LESSONS:
        first, cached = (lesson_seconds(times, "notebooks", number, run) for run in ("first_run", "cached"))
        again = f", {minutes(cached)} when run again" if abs(first - cached) >= 60 else ""
        return (f"The notebook computes for {minutes(first)} on a first run{again}, on the machine of "
                f"`benchmarks/results/lesson_times.json` ({machine(times)}).")
    raise KeyError(f"no rendered piece called {name!r}")


SENTENCES = {  # piece name: (result file, the sentence made from its figures)
    "room-load": ("room_load", "{learners} learners each sending one {tokens_each}-token request at the same moment "
                  "got every answer within {max_s:.0f} s (median {p50_s:.0f} s, {errors} errors; {source})"),
    "model-start": ("generation", "about {warm_start_s:.1f} s from `import course_lib` to the first answer, holding "
                    "about {warm_start_rss_mb:.0f} MB, and writes about {single_stream_tok_s:.0f} tokens a second "
                    "({source})"),
}


def service_piece(name: str) -> str:
    """A sentence from the engine's recorded speed (generation.json) or a room's load test (room_load.json)."""
    result, sentence = SENTENCES[name]
    record = load(result)
    if record is None:
        return f"(not measured yet: run `python benchmarks/{result}.py`)"
    return sentence.format(**record["figures"], source=source(record, result))


def benchmarks_readme() -> str:
    """benchmarks/README.md: which script writes which result file, and every recorded figure."""
    lines = ["# Benchmarks", "",
             "Each script measures one thing and writes `results/NAME.json` (the command, date, commit, machine and "
             "figures). `python benchmarks/render.py` writes this page and every figure the README, the instructor "
             "guide and the lessons show from those files; `tests/test_rendered.py` fails when a rendered copy is "
             "out of date. Run a benchmark alone: a second model process on 2 cores slows both far more than twice.",
             "", "| script | measures | result file |", "|---|---|---|"]
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        if script.name in ("render.py", "record.py"):
            continue
        doc = (re.search(r'"""(.*?)(?:\n\n|""")', script.read_text(encoding="utf-8"), re.DOTALL) or [None, ""])[1]
        writes = re.search(r"results/(\w+)\.json", script.read_text(encoding="utf-8"))
        summary = " ".join(doc.split()).split(". Writes")[0].rstrip(".")
        lines.append(f"| `{script.name}` | {summary} | {f'`results/{writes[1]}.json`' if writes else '—'} |")
    for path in sorted(RESULTS.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        lines += ["", f"## {path.stem}", "", f"`{record['command']}` at commit `{record['commit']}`, "
                  f"{record['date']}, {machine(record)}.", ""]
        lines += render_figures(path.stem, record["figures"])
    return "\n".join(lines) + "\n"


def render_figures(name: str, figures: dict) -> list[str]:
    if name == "lesson_times":
        rows = ["| notebook | first run | cached |", "|---|---|---|"]
        for notebook, t in figures["notebooks"].items():
            mark = "" if t["first_run_passed"] and t["cached_passed"] else " (failed: see the file)"
            rows.append(f"| {notebook} | {t['first_run_s']:.0f} s | {t['cached_s']:.0f} s{mark} |")
        rows.append(f"| **total** | **{figures['first_run_min']} min** | **{figures['cached_min']} min** |")
        return rows
    if isinstance(figures.get("runs"), list):
        rows = []
        for run in figures["runs"]:
            rows.append("- " + "; ".join(f"{k}: {json.dumps(v) if isinstance(v, dict) else v}" for k, v in run.items()))
        return rows
    rows = ["| figure | value |", "|---|---|"]
    for key, value in figures.items():
        shown = json.dumps(value) if isinstance(value, (dict, list)) else value
        rows.append(f"| {key} | {shown} |")
    return rows


# -- where the pieces go ---------------------------------------------------------------------------------------

def rendered_text(text: str) -> str:
    return MARKED.sub(lambda m: m.group(1) + piece(m["name"]) + m.group(4), text)


def targets() -> dict[Path, str]:
    """Every rendered file: its path and what it should hold now."""
    out = {ROOT / "benchmarks" / "README.md": benchmarks_readme()}
    for path in [ROOT / "README.md", ROOT / "instructor" / "README.md", *sorted(ROOT.glob("notebooks/*.ipynb"))]:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":
            nb = json.loads(text)
            for cell in nb["cells"]:
                if cell["cell_type"] == "markdown":
                    cell["source"] = rendered_text("".join(cell["source"])).splitlines(keepends=True)
            out[path] = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        else:
            out[path] = rendered_text(text)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report the places that are out of date")
    args = parser.parse_args()
    stale = [path for path, text in targets().items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    for path in stale:
        if args.check:
            print(f"out of date: {path.relative_to(ROOT)} (run python benchmarks/render.py)")
        else:
            path.write_text(targets()[path], encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
