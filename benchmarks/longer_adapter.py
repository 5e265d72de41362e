"""How the SQL adapter that `python -m course_lib train-longer` made scores on four question sets, by part. Writes
benchmarks/results/longer_adapter.json.

    python benchmarks/longer_adapter.py
    python benchmarks/longer_adapter.py --adapter path/to/another/adapter   # compare others beside it

The sets: lesson 03's test questions (one per template of the generator's test split); the independent set
(course_lib/data/itdb/independent.jsonl: 79 questions written from the schema and the database alone); and two
reserve sets beside this script, each written the same way by a helper that saw neither the generator, nor the
training files, nor the other sets: sql_reserve_questions.jsonl (60 questions, 2026-12-04) and
sql_analyst_questions.jsonl (76 questions worded as analysts and managers ask, 2026-12-08). Nothing in the course
is chosen on a reserve set: they check that a gain measured on the independent set holds on questions nobody has
looked at (tests/test_finetune_data.py checks that none is a near copy of a training question). Every adapter is
scored by execution accuracy at temperature 0, with the prompt it was trained on; about 30 s per adapter and set.
Run it alone: another model process on the same cores slows both far more than twice.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from record import write_result

RESERVES = {  # reserve sets beside this script, written from the schema and the database alone; they choose nothing
    "reserve": Path(__file__).with_name("sql_reserve_questions.jsonl"),
    "analyst_reserve": Path(__file__).with_name("sql_analyst_questions.jsonl"),
}


def reserve_items(name: str) -> list[dict]:
    """One reserve set's questions in the chat format of the other sets (with their part)."""
    from course_lib.datasets import question_lines_as_pairs, read_jsonl

    return question_lines_as_pairs(read_jsonl(RESERVES[name]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", action="append", default=[], help="another adapter folder to score beside it")
    args = parser.parse_args()

    from course_lib.datasets import load_sql_pairs, per_template
    from course_lib.finetune import LONGER_ADAPTER, load_training_record
    from course_lib.llm import local_engine, setup
    from course_lib.sql import evaluate_sql

    client, _ = setup(show=False)
    engine = local_engine(client)
    sets = {"test": per_template(load_sql_pairs("test"), 1), "independent": load_sql_pairs("independent"),
            **{name: reserve_items(name) for name in RESERVES}}
    runs = []
    for number, folder in enumerate([LONGER_ADAPTER, *map(Path, args.adapter)]):
        record = load_training_record(folder)
        name = f"ft:longer-{number}"
        engine.register_adapter(name, folder)
        run = {"adapter": str(folder), "steps": record.config.steps, "training_pairs": record.examples,
               "train_s": round(record.seconds), "final_val_loss": round(record.final_val_loss, 3)}
        for label, items in sets.items():
            started = time.perf_counter()
            scored = evaluate_sql(client, name, items, lambda item: item["messages"][:-1], name=name, progress=False)
            run[label] = {"execution_accuracy": round(scored.accuracy, 3), "questions": len(items),
                          **{part: f"{right}/{total}" for part, (right, total) in scored.by_part(items).items()},
                          "eval_s": round(time.perf_counter() - started, 1)}
        runs.append(run)
        print(run, flush=True)
    print("wrote", write_result("longer_adapter", {"runs": runs}))


if __name__ == "__main__":
    main()
