"""Speed of the local engine: single-stream and batched tokens/s, cold and warm start. Prints JSON with --json.

    python benchmarks/generation.py --json

cold_start_s: a fresh process with an empty cache (GGUF conversion included) to its first token.
decode_step_ms: one decode step of 16 rows with 800 tokens of context (the shape of a lesson's evaluation with a
long shared prompt), with the engine's in-place KV cache and with transformers' DynamicCache, which copies itself
every step.
ragged_eval_s: lesson 03's few-shot SQL baseline (63 prompts with a long shared beginning, answers of very
different lengths, cut at the first newline) answered with continuous batching (one call: a row that finishes is
refilled with a waiting prompt) at the engine's batch size (32) and at 16, and in fixed batches of 16 (one call per
batch: each batch runs until its longest answer ends).
warm_start_s: a fresh process with the converted weights cached, from `import course_lib` to its first token.
Both starts run in subprocesses so nothing is already imported or loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from course_lib.local import DEFAULT_BATCH_SIZE as BATCH_SIZE  # rows decoded together

NEW_TOKENS = 64  # greedy tokens generated per measurement
PROMPT = "Write a short product description for a plant-based kitchen cleaner that is gentle on hands:"

FIRST_TOKEN = """
import time; started = time.perf_counter()
from course_lib.llm import get_client
client = get_client()
client.completions.create(model="gemma-3-270m", prompt="Hello", max_tokens=1, temperature=0)
print(time.perf_counter() - started)
"""


def start_time(cache_dir: str) -> float:
    env = {**os.environ, "COURSE_CACHE_DIR": cache_dir, "COURSE_PROVIDER": "local"}
    out = subprocess.run([sys.executable, "-c", FIRST_TOKEN], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def decode_step_ms(net, make_cache, rows: int = 16, context: int = 800, steps: int = 12) -> float:
    """Median time of one decode step (body only) with `rows` rows and `context` cached tokens."""
    import statistics

    import torch

    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        cache = make_cache(net)
        ids = torch.randint(1000, 5000, (rows, context), generator=generator)
        mask = torch.ones(rows, context, dtype=torch.long)
        net.model(input_ids=ids, attention_mask=mask, position_ids=torch.arange(context)[None].repeat(rows, 1),
                  cache=cache, use_cache=True)
        token = torch.randint(1000, 5000, (rows, 1), generator=generator)
        times = []
        for step in range(steps):
            mask = torch.cat([mask, torch.ones(rows, 1, dtype=torch.long)], dim=1)
            started = time.perf_counter()
            net.model(input_ids=token, attention_mask=mask, position_ids=torch.full((rows, 1), context + step),
                      cache=cache, use_cache=True)
            times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 1)


def ragged_eval_s(engine) -> dict:
    """Seconds for lesson 03's few-shot SQL baseline (63 questions, answers up to 128 tokens), continuously batched
    and in fixed batches; and how many answers agree."""
    from course_lib.finetune import few_shot_examples, load_sql_pairs, per_template, question_of
    from course_lib.local import render_chat
    from course_lib.sql import ANSWER_MAX_TOKENS, prompt_messages

    shots = few_shot_examples(load_sql_pairs("train"), 4)
    prompts = [render_chat(prompt_messages(question_of(t), shots))[0] for t in per_template(load_sql_pairs("test"))]
    n, max_tokens = len(prompts), ANSWER_MAX_TOKENS
    engine.generate(prompts[:2], max_tokens=1)  # the shared beginning is prefilled once, for every run

    def timed(run):
        started = time.perf_counter()
        answers = run()
        return time.perf_counter() - started, [g[0].text for g in answers]

    default_s, default = timed(lambda: engine.generate(prompts, max_tokens=max_tokens, stop=["\n"]))
    by_16_s, by_16 = timed(lambda: engine.generate(prompts, max_tokens=max_tokens, stop=["\n"], batch_size=16))
    fixed_s, fixed = timed(lambda: [g for k in range(0, n, 16) for g in engine.generate(
        prompts[k:k + 16], max_tokens=max_tokens, stop=["\n"], batch_size=16)])
    return {"prompts": n, "max_tokens": max_tokens,
            f"continuous_batching_{BATCH_SIZE}_rows": round(default_s, 1),
            "continuous_batching_16_rows": round(by_16_s, 1), "fixed_batches_16_rows": round(fixed_s, 1),
            "same_answers_16_rows_as_default": sum(a == b for a, b in zip(by_16, default, strict=True)),
            "same_answers_fixed_as_default": sum(a == b for a, b in zip(fixed, default, strict=True))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--skip-cold", action="store_true", help="skip the cold start (it converts the GGUF again)")
    args = parser.parse_args()

    from course_lib.config import load_settings
    from course_lib.local import get_engine

    settings = load_settings()
    engine = get_engine(settings)
    engine.generate([PROMPT], max_tokens=4)  # load and warm up
    output_layer = getattr(engine._model(""), "output_layer", None)
    if output_layer is not None:  # fp32: the int8 shortlist is packed in the background in the first seconds
        output_layer.ready.wait()

    started = time.perf_counter()
    single = engine.generate([PROMPT], max_tokens=NEW_TOKENS)[0][0]
    single_s = time.perf_counter() - started
    prompts = [f"{PROMPT} (variant {i})" for i in range(BATCH_SIZE)]
    started = time.perf_counter()
    batched = engine.generate(prompts, max_tokens=NEW_TOKENS, batch_size=BATCH_SIZE)
    batched_s = time.perf_counter() - started

    from transformers import DynamicCache

    from course_lib.local import new_cache

    net = engine._model("")
    result = {
        "single_stream_tok_s": round(single.completion_tokens / single_s, 1),
        "batched_tok_s": round(sum(g[0].completion_tokens for g in batched) / batched_s, 1),
        "batch_size": BATCH_SIZE,  # the engine default
        "new_tokens": NEW_TOKENS,
        "precision": settings.local_precision,
        "torch_threads": __import__("torch").get_num_threads(),
        "decode_step_ms": {"in_place_cache": decode_step_ms(net, new_cache),
                           "dynamic_cache": decode_step_ms(net, lambda net: DynamicCache(config=net.config))},
        "ragged_eval_s": ragged_eval_s(engine),
        "warm_start_s": round(start_time(str(settings.cache_dir)), 2),
    }
    if not args.skip_cold:
        with tempfile.TemporaryDirectory() as empty_cache:
            result["cold_start_s"] = round(start_time(empty_cache), 1)
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
