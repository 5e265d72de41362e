"""Lesson 03's claims on the full test split: zero-shot, few-shot and fine-tuned execution accuracy, training speed
and prompt tokens. Writes benchmarks/results/finetune.json (and prints it, on one line with --json).

    python benchmarks/finetune.py --json

Trains the lesson's LoRA configuration (`course_lib.finetune.LESSON_CONFIG`) on the train split, then scores the
base model zero-shot and few-shot (schema in the prompt) and the fine-tuned model on every test item, by execution
accuracy, on the local engine. Takes about 15 minutes on 2 CPU cores.
Run it alone: another model process on the same cores (a test run, another benchmark) slows both far more
than twice, and every timing here with it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from record import write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N test items (0: all)")
    parser.add_argument("--corrupted", action="store_true", help="also train on 40%% swapped answers and score it")
    args = parser.parse_args()

    from course_lib.datasets import few_shot_examples, load_sql_pairs, question_of
    from course_lib.finetune import LESSON_CONFIG, corrupt_answers, save_adapter, train_lora
    from course_lib.llm import local_engine, setup
    from course_lib.sql import evaluate_sql, prompt_messages

    client, settings = setup(show=False)
    engine = local_engine(client)
    if engine is None:
        raise SystemExit("benchmarks/finetune.py trains on the local engine; unset COURSE_PROVIDER.")
    train, validation, test = (load_sql_pairs(s) for s in ("train", "validation", "test"))
    if args.limit:
        test = test[:args.limit]
    shots = few_shot_examples(train)

    def score(name, model, build):
        started = time.perf_counter()
        result = evaluate_sql(client, model, test, build, name=name, progress=not args.json)
        return result, time.perf_counter() - started

    zero, zero_s = score("zero-shot", settings.chat_model, lambda item: prompt_messages(question_of(item)))
    few, few_s = score("few-shot", settings.chat_model, lambda item: prompt_messages(question_of(item), shots))
    run = train_lora(train, validation, LESSON_CONFIG, progress=not args.json)
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_adapter(run, Path(tmp) / "sql")
        run.model = None
        engine.register_adapter("ft:gemma-3-270m:sql", folder)
        tuned, tuned_s = score("fine-tuned", "ft:gemma-3-270m:sql", lambda item: item["messages"][:-1])
        corrupted = None
        if args.corrupted:  # the lesson's bad-data experiment at full length: 40% of answers swapped
            bad_run = train_lora(corrupt_answers(train, 0.4, seed=0)[0], validation, LESSON_CONFIG,
                                 progress=not args.json)
            engine.register_adapter("ft:gemma-3-270m:sql-corrupted", save_adapter(bad_run, Path(tmp) / "bad"))
            bad_run.model = None
            corrupted, _ = score("corrupted", "ft:gemma-3-270m:sql-corrupted", lambda item: item["messages"][:-1])

    def by_part(result):
        parts: dict[str, list[bool]] = {}
        for item, answer in zip(test, result.answers, strict=True):
            parts.setdefault(item.get("part", "?"), []).append(answer["correct"])
        return {part: round(sum(v) / len(v), 3) for part, v in sorted(parts.items())}

    report = {
        "baseline_zero_shot_acc": round(zero.accuracy, 3),
        "baseline_few_shot_acc": round(few.accuracy, 3),
        "finetuned_acc": round(tuned.accuracy, 3),
        "test_examples": len(test),
        "train_examples": run.examples,
        "train_seconds": round(run.seconds, 1),
        "train_tokens_per_s": round(run.tokens_per_s, 1),
        "finetuned_prompt_tokens": round(tuned.prompt_tokens, 1),
        "few_shot_prompt_tokens": round(few.prompt_tokens, 1),
        "zero_shot_prompt_tokens": round(zero.prompt_tokens, 1),
        "accuracy_by_part": {"zero-shot": by_part(zero), "few-shot": by_part(few), "fine-tuned": by_part(tuned)},
        "valid_sql": {"zero-shot": round(zero.valid_rate, 3), "few-shot": round(few.valid_rate, 3),
                      "fine-tuned": round(tuned.valid_rate, 3)},
        "latency_s_per_request": {"zero-shot": round(zero.latency_s, 3), "few-shot": round(few.latency_s, 3),
                                  "fine-tuned": round(tuned.latency_s, 3)},
        "evaluation_seconds": {"zero-shot": round(zero_s, 1), "few-shot": round(few_s, 1),
                               "fine-tuned": round(tuned_s, 1)},
        "config": {k: v for k, v in vars(LESSON_CONFIG).items() if k != "target_modules"},
    }
    if corrupted is not None:
        report["corrupted_acc"] = round(corrupted.accuracy, 3)
        report["accuracy_by_part"]["corrupted"] = by_part(corrupted)
    print(json.dumps(report) if args.json else json.dumps(report, indent=1))
    print("wrote", write_result("finetune", report))


if __name__ == "__main__":
    main()
