"""What LoRA runs cost and buy lesson 03: training seconds and execution accuracy of the lesson's configuration and
of variants (steps, adapted layers, rank, learning rate, ...). Writes benchmarks/results/training_budget.json.

    python benchmarks/training_budget.py --json
    python benchmarks/training_budget.py --json --variant "steps=65" --variant "lora_layers=3"

Each variant is `course_lib.finetune.LESSON_CONFIG` with the given fields replaced (periodic validation switched
off; the final one still runs). One more field, `prompt="schema"`, puts `schema_text()` in the system message
of every training, validation and evaluation prompt (the measured alternative to the lesson's schema-free prompt):

    python benchmarks/training_budget.py --json --variant "prompt='schema', max_example_tokens=1024"

Each variant trains on the train split and is scored by execution accuracy on the lesson's test questions (one per
template), as lesson 03 scores its adapter, and on the independent set (questions written from the schema alone,
course_lib/data/itdb/independent.jsonl), by part. Runs share one process, so a variant
that adapts the same layers as an earlier one reuses the frozen layers' outputs and reports fewer seconds.
About 5 minutes per variant on 2 CPU cores.
Run it alone: another model process on the same cores (a test run, another benchmark) slows both far more
than twice, and every timing here with it.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import tempfile
import time
from pathlib import Path

from record import write_result

DEFAULT_VARIANTS = ("steps=65", "lora_layers=3", "")  # "": the lesson's configuration itself


def parse_variant(text: str) -> dict:
    """ "steps=65, learning_rate=3e-3" -> {"steps": 65, "learning_rate": 0.003}"""
    fields = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        fields[name.strip()] = ast.literal_eval(value.strip())
    return fields


def with_schema(items: list[dict]) -> list[dict]:
    """The same pairs with the schema in the system message, as the few-shot baseline's prompt carries it."""
    from course_lib.datasets import answer_of, question_of
    from course_lib.sql import prompt_messages

    return [{**item, "messages": prompt_messages(question_of(item), schema=True)
             + [{"role": "assistant", "content": answer_of(item)}]} for item in items]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--variant", action="append", help='fields to change, e.g. "steps=65" (repeatable)')
    args = parser.parse_args()

    from course_lib.datasets import load_sql_pairs, per_template
    from course_lib.finetune import LESSON_CONFIG, save_adapter, train_lora
    from course_lib.llm import local_engine, setup
    from course_lib.sql import evaluate_sql

    client, _ = setup(show=False)
    engine = local_engine(client)
    train, validation, test = (load_sql_pairs(s) for s in ("train", "validation", "test"))
    items = per_template(test, 1)
    independent = load_sql_pairs("independent")
    runs = []
    for text in args.variant or DEFAULT_VARIANTS:
        changes = parse_variant(text)
        prompt = changes.pop("prompt", "short")  # "short": the pairs' own system message; "schema": with the schema
        if prompt not in ("short", "schema"):
            raise SystemExit(f"--variant {text!r}: prompt must be 'short' or 'schema'")
        data = [with_schema(x) if prompt == "schema" else x for x in (train, validation, items, independent)]
        config = dataclasses.replace(LESSON_CONFIG, **{"eval_every": 0, **changes})
        result = train_lora(data[0], data[1], config, progress=False)
        folder = save_adapter(result, Path(tempfile.mkdtemp(prefix="budget-")) / "adapter")
        result.model = None
        name = f"ft:budget-{len(runs)}"
        engine.register_adapter(name, folder)
        started = time.perf_counter()
        run = {"changes": text or "lesson configuration", "prompt": prompt, "steps": config.steps,
               "lora_layers": config.lora_layers,
               "train_s": round(result.seconds, 1), "final_val_loss": round(result.final_val_loss, 3)}
        for label, questions in (("test", data[2]), ("independent", data[3])):
            scored = evaluate_sql(client, name, questions, lambda item: item["messages"][:-1], name=name,
                                  progress=False)
            run[label] = {"execution_accuracy": round(scored.accuracy, 3), "questions": len(questions),
                          **{part: f"{right}/{total}" for part, (right, total) in scored.by_part(questions).items()}}
        run["eval_s"] = round(time.perf_counter() - started, 1)
        runs.append(run)
        if not args.json:
            print(runs[-1], flush=True)
    if args.json:
        print(json.dumps({"runs": runs}))
    print("wrote", write_result("training_budget", {"runs": runs}))


if __name__ == "__main__":
    main()
