"""Speed of the local provider as learners use it (the OpenAI client over llama.cpp). Writes
benchmarks/results/generation.json.

    python benchmarks/generation.py
    python benchmarks/generation.py --slots 1,2     # also the lesson evaluations with other slot counts

single_stream_tok_s: one chat request of NEW_TOKENS greedy tokens through `client.chat.completions.create`;
raw_xllamacpp_tok_s: the same request handed straight to the engine's llama.cpp server (`Server.handle_completions`)
in the same process, with none of the course's layers, so the two show what the client, the API layer and the chat
template cost.
warm_start_s / warm_start_rss_mb: a fresh process, from `import course_lib` to its first answer, and its memory then
(the chat model loaded, no embeddings: what a lesson-01 kernel holds); raw_warm_start_s / raw_warm_start_rss_mb: the
same for llama.cpp alone (import xllamacpp, load the GGUF, one token), the floor the course's start sits on.
lesson_eval: lesson 03's few-shot SQL baseline (63 chat requests sharing a long beginning, answers cut at the first
newline, at most 128 tokens) and lesson 01's 8-example sentiment prompt over the 80 test reviews, sent with
`chat_many` as the lessons send them; seconds and tokens/s, with the engine's slots (LOCAL_SLOTS) and, with
--slots, other slot counts for comparison.
Run it alone: another model process on the same cores (a test run, another benchmark) slows both far more
than twice, and every timing here with it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from record import write_result

NEW_TOKENS = 64  # greedy tokens generated per single-stream measurement
PROMPT = "Write a short product description for a plant-based kitchen cleaner that is gentle on hands:"

PEAK_RSS_MB = """
def peak_rss_mb():  # this process's own peak (ru_maxrss would include the parent's memory copied before exec)
    import resource
    try:
        return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
    except OSError:  # not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 * 1024)
"""

FIRST_ANSWER = PEAK_RSS_MB + """
import time; started = time.perf_counter()
from course_lib.llm import get_client
client = get_client()
client.chat.completions.create(model="gemma-3-270m", messages=[{"role": "user", "content": "Hello"}], max_tokens=1)
print(time.perf_counter() - started, peak_rss_mb())
"""

RAW_FIRST_ANSWER = PEAK_RSS_MB + """
import time; started = time.perf_counter()
import xllamacpp
from course_lib.runtime.weights import gguf_path
params = xllamacpp.CommonParams()
params.model.path, params.n_ctx, params.port, params.verbosity = str(gguf_path()), 2048, 0, -1
params.fit_params = params.warmup = False  # as the course starts it: no second load to fit memory, no warm-up
xllamacpp.Server(params).handle_completions({"prompt": "Hello", "max_tokens": 1})
print(time.perf_counter() - started, peak_rss_mb())
"""


def warm_start(code: str = FIRST_ANSWER) -> tuple[float, float]:
    """Seconds from a fresh interpreter's `import course_lib` to its first answer, and that process's peak RSS (MB).
    With RAW_FIRST_ANSWER: the same for llama.cpp alone (import xllamacpp, load the GGUF, one token)."""
    env = {**os.environ, "COURSE_PROVIDER": "local"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    seconds, rss = out.stdout.strip().splitlines()[-1].split()
    return round(float(seconds), 2), round(float(rss))


def single_stream(client, engine) -> dict:
    """Greedy tokens/s of one request, through the client and straight to llama.cpp, alternated three times."""
    request = dict(max_tokens=NEW_TOKENS, temperature=0, extra_body={"ignore_eos": True})
    messages = [{"role": "user", "content": PROMPT}]
    through_client, raw = [], []
    for _ in range(3):
        started = time.perf_counter()
        reply = client.chat.completions.create(model="gemma-3-270m", messages=messages, **request)
        through_client.append(reply.usage.completion_tokens / (time.perf_counter() - started))
        started = time.perf_counter()
        answer = engine.server.handle_completions({"prompt": PROMPT, "max_tokens": NEW_TOKENS, "temperature": 0,
                                                   "ignore_eos": True})
        raw.append(answer["usage"]["completion_tokens"] / (time.perf_counter() - started))
    return {"single_stream_tok_s": round(max(through_client), 1), "raw_xllamacpp_tok_s": round(max(raw), 1)}


def lesson_conversations() -> dict[str, tuple[list[list[dict]], int]]:
    """The two evaluations the lessons run most: (conversations, max_tokens) by name."""
    from course_lib.datasets import few_shot_examples, load_reviews, load_sql_pairs, per_template, question_of
    from course_lib.prompting import few_shot_prompt
    from course_lib.sql import ANSWER_MAX_TOKENS, prompt_messages

    shots = few_shot_examples(load_sql_pairs("train"), 4)
    sql = [prompt_messages(question_of(t), shots) for t in per_template(load_sql_pairs("test"))]
    pool = load_reviews("fewshot")
    positives = [r for r in pool if r["label"] == "positive"][:4]
    negatives = [r for r in pool if r["label"] == "negative"][:4]
    examples = [r for pair in zip(positives, negatives, strict=True) for r in pair]
    sentiment = [few_shot_prompt(r["text"], examples, template="{text}") for r in load_reviews("test")]
    return {"lesson03_few_shot_sql": (sql, ANSWER_MAX_TOKENS), "lesson01_sentiment_8_shot": (sentiment, 3)}


def lesson_eval(client, engine) -> dict:
    """Seconds and tokens/s of each lesson evaluation, sent as the lessons send it (as many requests in flight as
    the engine has slots)."""
    from course_lib.llm import chat_many

    results = {}
    for name, (conversations, max_tokens) in lesson_conversations().items():
        chat_many(client, "gemma-3-270m", conversations[:2], max_tokens=1, progress=False)  # warm the slots
        started = time.perf_counter()
        answers = chat_many(client, "gemma-3-270m", conversations, max_tokens=max_tokens, stop=["\n"],
                            progress=False, concurrency=engine.slots)
        seconds = time.perf_counter() - started
        written = sum(a.completion_tokens for a in answers)
        results[name] = {"requests": len(answers), "seconds": round(seconds, 1),
                         "completion_tokens": written, "tok_s": round(written / seconds, 1),
                         "prompt_tokens": sum(a.prompt_tokens for a in answers)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", default="", help="also measure the lesson evaluations with these slot counts, "
                                                    "e.g. 4,16")
    args = parser.parse_args()

    from course_lib.config import load_settings
    from course_lib.llm import get_client
    from course_lib.runtime.engine import LOCAL_SLOTS, get_engine

    settings = load_settings(env={k: v for k, v in os.environ.items() if not k.startswith(("COURSE_PROVIDER",))})
    client = get_client(settings)
    engine = get_engine()  # a benchmark of the engine itself: it reads llama.cpp's server directly
    client.chat.completions.create(model="gemma-3-270m", messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
    result = {"slots": LOCAL_SLOTS, "new_tokens": NEW_TOKENS, **single_stream(client, engine)}
    result["client_vs_raw"] = round(result["single_stream_tok_s"] / result["raw_xllamacpp_tok_s"], 3)
    result["lesson_eval"] = lesson_eval(client, engine)
    for slots in [int(s) for s in args.slots.split(",") if s.strip()]:
        engine.slots = slots
        engine.close()  # restarts with the new slot count on the next request
        result[f"lesson_eval_{slots}_slots"] = lesson_eval(client, engine)
    engine.slots = LOCAL_SLOTS
    engine.close()
    result["warm_start_s"], result["warm_start_rss_mb"] = warm_start()
    result["raw_warm_start_s"], result["raw_warm_start_rss_mb"] = warm_start(RAW_FIRST_ANSWER)
    print(json.dumps(result, indent=1))
    print("wrote", write_result("generation", result))


if __name__ == "__main__":
    main()
