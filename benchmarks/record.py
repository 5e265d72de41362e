"""Write a benchmark's result file: benchmarks/results/NAME.json with the command, date, machine and figures.

Every figure the README, the lessons and the instructor guide show is read from these files
(`python benchmarks/render.py` writes the tables), so a number is measured once and typed nowhere.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    """What the figures were measured on: CPU model, cores, AVX-512 or not, memory."""
    cpu, flags = platform.processor() or platform.machine(), ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu in ("", platform.machine()):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": cpu, "cores": os.cpu_count(), "avx512": " avx512f" in flags, "memory_gib": round(memory)}


def commit(root: Path) -> str:
    """The git commit measured (with '+changes' when the work tree differs from it)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def write_result(name: str, figures: dict, measured: Path | None = None) -> Path:
    """Save figures as results/NAME.json with the command line, date, commit and machine; returns the path.
    `measured` is the checkout whose code was measured (default: this one)."""
    here = RESULTS.parent.parent
    script = Path(sys.argv[0]).resolve()
    script = script.relative_to(here) if script.is_relative_to(here) else script
    record = {"benchmark": name, "command": " ".join(["python", str(script), *sys.argv[1:]]),
              "date": datetime.datetime.now().isoformat(timespec="minutes"),
              "commit": commit(measured or here), "machine": machine(), "figures": figures}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return path
