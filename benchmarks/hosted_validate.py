"""Every notebook through the hosted stand-in, as an OpenAI and as an Azure OpenAI account serves chat models:
`python -m course_lib validate` with COURSE_PROVIDER=openai, then azure, and how long each took. Prints one JSON
object with --json.

    python benchmarks/hosted_validate.py --json                  # every notebook, both providers (about an hour)
    python benchmarks/hosted_validate.py --json --flavor azure 00 01

The stand-in (tests/hosted_standin.py) refuses the completions endpoint for chat models, as both providers
document, and forwards chat and embeddings to `python -m course_lib serve` on 127.0.0.1. The count of calls that
sent a chat model to the completions endpoint must be 0.
Run it alone: another model process on the same cores (a test run, another benchmark) slows both far more
than twice, and every timing here with it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from standin_fixtures import chat_model_on_completions, read_call_log, start_standin_process  # noqa: E402

PROVIDER_VARS = ("COURSE_PROVIDER", "COURSE_MODEL", "COURSE_EMBEDDING_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL",
                 "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "OPENAI_API_VERSION", "AZURE_OPENAI_DEPLOYMENT")


def validate_through(flavor: str, upstream: str, lessons: list[str], env: dict) -> dict:
    """Run `validate` with the provider set to a stand-in of `flavor`; its lines, exit code, time and call counts."""
    log = Path(tempfile.mkdtemp(prefix="standin-")) / "calls.jsonl"
    standin = start_standin_process(upstream, flavor, log=log)
    try:
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "course_lib", "validate", *lessons], cwd=ROOT,
                                env={**env, **standin.env()}, capture_output=True, text=True)
        seconds = time.perf_counter() - started
    finally:
        standin.stop()
    calls = read_call_log(log)
    return {"flavor": flavor, "exit_code": result.returncode, "minutes": round(seconds / 60, 1),
            "lines": result.stdout.splitlines(), "chat_calls": sum(c["endpoint"] == "chat" for c in calls),
            "chat_model_on_completions": len(chat_model_on_completions(calls))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers or names (default: every notebook)")
    parser.add_argument("--flavor", action="append", choices=("openai", "azure"), help="default: both")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_VARS}
    from course_lib.server import start_serve_process

    server, upstream = start_serve_process(env=env)
    runs = []
    try:
        for flavor in args.flavor or ("openai", "azure"):
            runs.append(validate_through(flavor, upstream, args.lessons, env))
            if not args.json:
                print("\n".join(runs[-1]["lines"]), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    if args.json:
        print(json.dumps({"runs": runs}, indent=1))
    sys.exit(max(r["exit_code"] for r in runs) or int(any(r["chat_model_on_completions"] for r in runs)))


if __name__ == "__main__":
    main()
