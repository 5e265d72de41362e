"""A workshop room on one server: N learners send one chat request each, all at once. Writes
benchmarks/results/room_load.json (latency percentiles, errors, throughput).

    python benchmarks/room_load.py                          # starts `python -m course_lib serve` on 127.0.0.1
    python benchmarks/room_load.py --learners 60 --tokens 64
    python benchmarks/room_load.py --base-url http://10.0.0.5:8000/v1 --model gemma-3-270m --api-key KEY

With --base-url it loads any OpenAI-compatible server (your room's `course_lib serve`, vLLM, llama-server) and
records nothing unless --record is given. Bounded: exactly `--learners` requests, each with a `--timeout`.
Run it alone: another model process on the same cores slows both far more than twice.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import openai
from record import write_result

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ["What is a refill pouch?", "How do I clean a cast-iron pan?", "Is the dish soap plant-based?",
             "What does an eco-friendly cleaner contain?", "How often should I descale a kettle?"]


def course_server(wait_s: float = 120.0) -> tuple[subprocess.Popen, str]:
    """`python -m course_lib serve` on a free loopback port, once its /v1/models answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "course_lib", "serve", "--port", str(port), "--quiet"], cwd=ROOT)
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(int(wait_s * 2)):
        try:
            urllib.request.urlopen(url + "/models", timeout=2)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"python -m course_lib serve did not answer on {url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=30, help="simultaneous learners, one request each")
    parser.add_argument("--tokens", type=int, default=32, help="tokens each answer is asked to write")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one request may take")
    parser.add_argument("--base-url", default="", help="an OpenAI-compatible server to load (default: start one)")
    parser.add_argument("--model", default="gemma-3-270m", help="the model name to ask for")
    parser.add_argument("--api-key", default="room", help="the key the server wants, if any")
    parser.add_argument("--record", action="store_true", help="write the result file also with --base-url")
    args = parser.parse_args()

    proc, base_url = (None, args.base_url) if args.base_url else course_server()
    client = openai.OpenAI(base_url=base_url, api_key=args.api_key, max_retries=0, timeout=args.timeout)
    latencies: list[float] = []
    tokens: list[int] = []
    errors: list[str] = []
    go = threading.Event()

    def learner(i: int) -> None:
        messages = [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}]
        go.wait()
        started = time.perf_counter()
        try:
            reply = client.chat.completions.create(model=args.model, messages=messages, max_tokens=args.tokens,
                                                   temperature=0.7, seed=i, extra_body={"ignore_eos": True})
            latencies.append(time.perf_counter() - started)
            tokens.append(reply.usage.completion_tokens if reply.usage else 0)
        except openai.OpenAIError as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:200])

    threads = [threading.Thread(target=learner, args=(i,)) for i in range(args.learners)]
    for t in threads:
        t.start()
    started = time.perf_counter()
    go.set()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=30)

    ordered = sorted(latencies)

    def percentile(p: float) -> float | None:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2) if ordered else None

    report = {"server": "course_lib serve" if proc is not None else base_url, "model": args.model,
              "learners": args.learners, "tokens_each": args.tokens, "errors": len(errors),
              "p50_s": percentile(0.50), "p95_s": percentile(0.95), "max_s": round(max(ordered, default=0), 2),
              "mean_s": round(statistics.mean(ordered), 2) if ordered else None, "wall_s": round(wall, 2),
              "tok_s_total": round(sum(tokens) / wall, 1), "first_errors": errors[:3]}
    print(json.dumps(report, indent=1))
    if proc is not None or args.record:
        print("wrote", write_result("room_load", report))


if __name__ == "__main__":
    main()
