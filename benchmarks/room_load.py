"""A workshop room on one machine's model: N learners send one chat request each, all at once, to
`python -m course_lib serve` on 127.0.0.1. Prints latency percentiles, errors and throughput as JSON with --json.

    python benchmarks/room_load.py --json                   # 30 learners, 32 tokens each
    python benchmarks/room_load.py --learners 60 --tokens 64

Bounded: exactly `--learners` requests, each with a `--timeout`, to a server this script starts on a free loopback
port and stops at the end.
Run it alone: another model process on the same cores (a test run, another benchmark) slows both far more
than twice, and every timing here with it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path

import openai

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ["What is a refill pouch?", "How do I clean a cast-iron pan?", "Is the dish soap plant-based?",
             "What does an eco-friendly cleaner contain?", "How often should I descale a kettle?"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--learners", type=int, default=30, help="simultaneous learners, one request each")
    parser.add_argument("--tokens", type=int, default=32, help="tokens each answer is asked to write")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one request may take")
    args = parser.parse_args()

    from course_lib.server import start_serve_process

    proc, base_url = start_serve_process(timeout_s=120)
    client = openai.OpenAI(base_url=base_url, api_key="room", max_retries=0, timeout=args.timeout)
    latencies: list[float] = []
    tokens: list[int] = []
    errors: list[str] = []
    go = threading.Event()

    def learner(i: int) -> None:
        messages = [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}]
        go.wait()
        started = time.perf_counter()
        try:
            reply = client.chat.completions.create(model="gemma-3-270m", messages=messages, max_tokens=args.tokens,
                                                   temperature=0.7, seed=i, extra_body={"ignore_eos": True})
            latencies.append(time.perf_counter() - started)
            tokens.append(reply.usage.completion_tokens)
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
    proc.terminate()
    proc.wait(timeout=30)

    ordered = sorted(latencies)

    def percentile(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2) if ordered else float("nan")

    report = {"learners": args.learners, "tokens_each": args.tokens, "errors": len(errors),
              "p50_s": percentile(0.50), "p95_s": percentile(0.95), "max_s": round(max(ordered, default=0), 2),
              "mean_s": round(statistics.mean(ordered), 2) if ordered else None, "wall_s": round(wall, 2),
              "tok_s_total": round(sum(tokens) / wall, 1), "first_errors": errors[:3]}
    print(json.dumps(report) if args.json else json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
