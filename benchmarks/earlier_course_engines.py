"""The earlier course on both engines, one machine: the whole-course comparison, like for like. Prints JSON with --json.

    python benchmarks/earlier_course_engines.py --json                       # torch, llamacpp, torch, llamacpp
    python benchmarks/earlier_course_engines.py --json --runs torch,llamacpp --cache-dir /tmp/earlier-cache

The course moved to llama.cpp at commit 562897b and changed its lessons in the same step (chat everywhere), so
today's course cannot run on the earlier engine and the earlier course's totals cannot be compared with today's.
This script runs the **earlier course** (commit EARLIER_COMMIT, the last before llama.cpp: its notebooks, helpers,
trainer and data as they were) twice over: once as it was, on the engine written here on torch (`torch`), and once
with only its `LocalEngine` swapped for **today's engine** (`llamacpp`): `course_lib.local.LocalEngine` of this
checkout, imported from here, with its slots, prompt caching and adapters per request. Everything else in the
earlier course is untouched; the swap is ENGINE_SWAP below, written into a git worktree of that commit.

Each run executes every notebook of the earlier course (lessons, exercises, solutions) in a fresh kernel from its own
folder, as `python -m course_lib validate` does, and records its seconds. Cells that raise are recorded and the
notebook goes on (`allow_errors`), for both engines alike, so each total covers every cell: the earlier course's
claims were set on the torch engine's answers, and some do not hold on 4-bit llama.cpp (and lesson 04's fine-tuning
claim of that commit had no margin on either). The runs share one course cache: the first run trains the earlier
course's adapters (its first-run total), later runs find them (adapters cached, what the issue compares). Runs
alternate, so a slow hour falls on both engines. The kernels inherit this script's environment: with
`ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 DNNL_MAX_CPU_ISA=AVX2` the torch engine runs as on a CPU
without AVX-512 (the llama.cpp wheel is an AVX2 build). Run it alone: another model process on the same 2 cores slows
both engines far more than twice.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EARLIER_COMMIT = "ac59e2d"  # the last commit before llama.cpp (the course's README timed it on the torch engine)

# Written into the worktree as course_lib/engine_swap.py. The earlier course's LocalAPI calls `generate`,
# `model_names` and `register_adapter`; its lessons read `tokenizer`, `count_tokens` and `load_training_model`
# (training stays on torch, as it does today).
ENGINE_SWAP = '''"""Today's engine (llama.cpp, imported from TODAY) behind the earlier LocalEngine's interface."""

import importlib
import importlib.util
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import local

TODAY = Path(%(today)r)


def _today_module(name):
    """A module of today's course_lib, imported as today_course_lib.<name> beside the earlier course_lib."""
    if "today_course_lib" not in sys.modules:
        spec = importlib.util.spec_from_file_location("today_course_lib", TODAY / "course_lib" / "__init__.py",
                                                      submodule_search_locations=[str(TODAY / "course_lib")])
        package = importlib.util.module_from_spec(spec)
        sys.modules["today_course_lib"] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"today_course_lib.{name}")


class SwappedEngine(local.LocalEngine):
    """The earlier LocalEngine's methods, answered by today's llama.cpp LocalEngine."""

    def __init__(self, settings, progress=True):
        super().__init__(settings, progress)
        today = _today_module("local")
        self.today = today.LocalEngine(_today_module("config").load_settings())
        self.EngineError = today.EngineError

    @property
    def tokenizer(self):  # the same Hugging Face tokenizer as before; no torch model is loaded to answer
        with self._lock:
            if self._tokenizer is None:
                self.weights_dir = local.ensure_converted_weights(self.settings.cache_dir, progress=self.progress)
                self._tokenizer = local.load_tokenizer(self.weights_dir)
        return self._tokenizer

    def register_adapter(self, name, adapter_dir):
        self.today.register_adapter(name, adapter_dir)

    def model_names(self):
        return self.today.model_names()

    def generate(self, prompts, model="", max_tokens=16, temperature=0.0, top_p=1.0, stop=None, n=1, seed=None,
                 batch_size=None):
        model = model or self.today.base_name
        if model not in self.today.model_names():
            raise KeyError(model)
        if temperature > 0 and seed is None:
            seed, self._next_seed = self._next_seed, self._next_seed + 1
        stop = [s for s in (stop or []) if s]

        def one(job):
            i, k = job
            request = {"model": model, "prompt": prompts[i], "max_tokens": max_tokens, "temperature": temperature,
                       "top_p": top_p, "stop": stop}
            if temperature > 0:
                request["seed"] = seed + k
            try:
                reply = self.today.complete(request)
            except self.EngineError as exc:
                raise ValueError(str(exc)) from None
            choice, usage = reply["choices"][0], reply["usage"]
            finish = "length" if choice["finish_reason"] == "length" else "stop"
            return local.Generation(choice["text"], finish, usage["prompt_tokens"], usage["completion_tokens"])

        jobs = [(i, k) for i in range(len(prompts)) for k in range(n)]
        self.today.server  # start llama.cpp once, before the threads ask for it
        self.load_seconds = self.today.load_seconds
        in_flight = int(os.environ.get("EARLIER_COURSE_IN_FLIGHT") or self.today.slots)
        with ThreadPoolExecutor(max_workers=in_flight) as pool:
            answers = list(pool.map(one, jobs))
        return [answers[i * n:(i + 1) * n] for i in range(len(prompts))]
'''

# Appended to the worktree's course_lib/local.py: get_engine builds the swapped engine when asked to.
SWITCH = '''

# benchmarks/earlier_course_engines.py: EARLIER_COURSE_ENGINE=llamacpp answers with today's engine instead.
if os.environ.get("EARLIER_COURSE_ENGINE") == "llamacpp":
    from .engine_swap import SwappedEngine as LocalEngine  # noqa: E402,F811
'''

# Run in the worktree with its course_lib first on the path: every notebook in validate's order, each in a fresh
# kernel from its own folder (as validate's execute_notebook), errors recorded and execution going on; the three
# slowest code cells of each (seconds, code-cell index, first line) say where an engine's time goes.
DRIVER = '''
import json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, %(benchmarks)r)
from notebook_times import _seconds as cell_seconds  # a cell's seconds from nbclient's timing metadata
import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from course_lib.validate import select_notebooks

for path in select_notebooks():
    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="course-kernel-") as sockets:
        km = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
        try:
            NotebookClient(nb, km=km, timeout=1800, allow_errors=True,
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        finally:
            if km.has_kernel:
                km.shutdown_kernel(now=True)
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [f"{i}: {o['ename']}" for i, c in enumerate(code) for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    slowest = sorted(((round(cell_seconds(c), 1), i, c.source.strip().splitlines()[0][:60] if c.source.strip() else "")
                      for i, c in enumerate(code)), reverse=True)[:3]
    print(json.dumps({"notebook": f"{path.parent.name}/{path.name}", "seconds": round(time.perf_counter() - started, 1),
                      "errors": errors, "slowest_cells": slowest}), flush=True)
'''


def prepare_worktree(worktree: Path) -> None:
    """A git worktree of EARLIER_COMMIT with the engine swap written in (the swap is off unless asked for)."""
    if not worktree.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), EARLIER_COMMIT],
                       check=True, capture_output=True)
    package = worktree / "course_lib"
    (package / "engine_swap.py").write_text(ENGINE_SWAP % {"today": str(ROOT)})
    local_py = package / "local.py"
    source = local_py.read_text()
    if SWITCH not in source:
        local_py.write_text(source + SWITCH)


def run_course(worktree: Path, cache_dir: Path, engine: str, in_flight: int = 0) -> dict:
    """Every notebook of the earlier course on `engine` ('torch' or 'llamacpp'): seconds each, errors, total.
    `in_flight`: requests sent to llama.cpp at once (0: one per slot, as today's chat_many sends them)."""
    env = {**os.environ, "PYTHONPATH": str(worktree), "COURSE_CACHE_DIR": str(cache_dir), "COURSE_PROVIDER": "local",
           "EARLIER_COURSE_ENGINE": engine, "EARLIER_COURSE_IN_FLIGHT": str(in_flight or "")}
    driver = DRIVER % {"benchmarks": str(ROOT / "benchmarks")}
    out = subprocess.run([sys.executable, "-c", driver], cwd=worktree, env=env, capture_output=True, text=True)
    notebooks = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0:
        raise RuntimeError(f"The {engine} run stopped: {out.stderr[-2000:]}")
    total_min = round(sum(n["seconds"] for n in notebooks) / 60, 1)
    in_flight = (in_flight or None) if engine == "llamacpp" else None
    return {"engine": engine, "in_flight": in_flight, "total_min": total_min, "notebooks": notebooks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--worktree", type=Path, default=Path("/tmp/earlier-course"),
                        help="where the worktree of the earlier commit goes (created if missing)")
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/earlier-course-cache"),
                        help="the course cache the runs share (empty: the first run trains the adapters)")
    parser.add_argument("--runs", default="torch,llamacpp,torch,llamacpp",
                        help="engines in run order, comma-separated: torch (as it was) or llamacpp (today's)")
    parser.add_argument("--in-flight", type=int, default=0,
                        help="llamacpp runs: requests sent at once (default: one per slot; 1 lets one slot's cached "
                             "prompt beginning serve every request of an evaluation)")
    args = parser.parse_args()
    prepare_worktree(args.worktree)
    results = []
    for engine in args.runs.split(","):
        results.append(run_course(args.worktree, args.cache_dir, engine, args.in_flight))
        if not args.json:
            print(f"{engine}: {results[-1]['total_min']} min", flush=True)
    report = {"earlier_commit": EARLIER_COMMIT, "cpu_count": os.cpu_count(), "runs": results}
    print(json.dumps(report, indent=1) if args.json else "")


if __name__ == "__main__":
    main()
