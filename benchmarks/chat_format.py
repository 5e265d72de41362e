"""Which text rendering of chat messages does the base model answer best? Prints JSON with --json.

    python benchmarks/chat_format.py --json

The task: the 50 dev reviews of lesson 01, asked as a chat (a system instruction, four solved examples as
user/assistant turns, then the review). Each format in course_lib.local.CHAT_FORMATS renders the same messages,
sent as raw completions to the local model; the answer's first word is parsed as the label. The default format is
the chat template the engine gives llama.cpp.
Run it alone: another model process on the same cores (a test run, another benchmark) slows both far more
than twice, and every timing here with it.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    from concurrent.futures import ThreadPoolExecutor

    from course_lib.datasets import load_reviews
    from course_lib.llm import local_engine, setup
    from course_lib.local import CHAT_FORMATS, DEFAULT_CHAT_FORMAT, render_chat
    from course_lib.prompting import parse_label

    client, settings = setup(show=False)
    if local_engine(client) is None:
        raise SystemExit("benchmarks/chat_format.py measures the local base model; unset COURSE_PROVIDER.")
    pool, dev = load_reviews("fewshot"), load_reviews("dev")
    positives = [r for r in pool if r["label"] == "positive"]
    negatives = [r for r in pool if r["label"] == "negative"]
    shots = [r for pair in zip(positives[:2], negatives[:2], strict=True) for r in pair]

    def conversation(review: dict) -> list[dict]:
        messages = [{"role": "system", "content": "Classify the sentiment of each customer review as positive or "
                                                  "negative. Answer with one word."}]
        for s in shots:
            messages += [{"role": "user", "content": s["text"]}, {"role": "assistant", "content": s["label"]}]
        return messages + [{"role": "user", "content": review["text"]}]

    results = {}
    for name in CHAT_FORMATS:
        rendered = [render_chat(conversation(r), chat_format=name) for r in dev]
        started = time.perf_counter()

        def complete(prompt: str, stops: list[str]) -> str:
            return client.completions.create(model=settings.chat_model, prompt=prompt, max_tokens=3, temperature=0,
                                             stop=stops).choices[0].text

        with ThreadPoolExecutor(max_workers=local_engine(client).slots) as pool:
            parsed = [parse_label(text) for text in pool.map(lambda r: complete(*r), rendered)]
        results[name] = {
            "accuracy": round(sum(p == r["label"] for p, r in zip(parsed, dev, strict=True)) / len(dev), 3),
            "valid": round(sum(p is not None for p in parsed) / len(dev), 3),
            "seconds": round(time.perf_counter() - started, 1),
        }
    best = max(results, key=lambda n: (results[n]["accuracy"], results[n]["valid"]))
    report = {"task": f"sentiment of {len(dev)} dev reviews, 4 examples as chat turns", "formats": results,
              "best": best, "default": DEFAULT_CHAT_FORMAT}
    print(json.dumps(report) if args.json else json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
