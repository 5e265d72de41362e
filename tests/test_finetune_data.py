"""Lesson 03's data side: the NL-to-SQL split, the read-only database, execution accuracy, the training-file
validator, token counts, the cost estimate and the bad-data helpers. No model runs here except its tokenizer."""

import difflib
import json
import os
import re

import pytest
from conftest import ROOT

from course_lib.datasets import DataError, answer_of, load_sql_pairs, question_of
from course_lib.finetune import (
    NEAR_COPY,
    corrupt_answers,
    estimate_training_cost,
    load_training_examples,
    token_stats,
    ungrounded_values,
    validate_lines,
    validate_training_file,
)
from course_lib.sql import (
    SQLError,
    SQLEvaluation,
    execution_match,
    extract_sql,
    is_valid_sql,
    results_match,
    run_query,
)

TRAIN, VALIDATION, TEST = (load_sql_pairs(s) for s in ("train", "validation", "test"))
MORE = load_sql_pairs("train_more")  # the composed pairs only train-longer adds
INDEPENDENT = load_sql_pairs("independent")


def core_templates() -> set[str]:
    """The templates every pair of which trains: the generator's "core" ones (simple questions with few values)
    and compose.py's (questions built from pieces), none of which holds out a wording."""
    import importlib.util

    from course_lib.datasets import itdb_path

    spec = importlib.util.spec_from_file_location("make_pairs", itdb_path("train").with_name("make_pairs.py"))
    make_pairs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_pairs)
    composed = {e["template"] for e in TRAIN if e["template"].startswith(make_pairs.COMPOSED_PREFIX)}
    return {t.id for t in make_pairs.TEMPLATES if t.split == "core"} | composed


def count_words(text):  # a tokenizer stand-in where the exact count does not matter
    return len(text.split())


# -- the split ---------------------------------------------------------------------------------------------------

def sql_shape(sql: str) -> str:
    """The query with its values blanked: two items share a shape when only department, year, … differ."""
    return re.sub(r"\b\d+(\.\d+)?\b", "0", re.sub(r"'[^']*'", "?", sql))


def test_split_holds_out_wording_and_whole_templates():
    train_templates = {e["template"] for e in TRAIN}
    parts = {"new_wording": set(), "new_shape": set()}
    for item in TEST:
        parts[item["part"]].add(item["template"])
    core = core_templates()
    assert core and core <= train_templates
    assert parts["new_wording"] == train_templates - core, "every other training template: a held-out wording"
    assert not parts["new_shape"] & train_templates
    assert not {e["template"] for e in VALIDATION} & (train_templates | parts["new_shape"])
    assert len(TRAIN) >= 400 and len(TEST) >= 150 and len(TRAIN) + len(VALIDATION) + len(TEST) >= 500


def test_no_new_shape_appears_in_training():
    train_shapes = {sql_shape(answer_of(e)) for e in TRAIN + MORE}
    held = [e for e in TEST if e["part"] == "new_shape"] + VALIDATION
    shared = [answer_of(e) for e in held if sql_shape(answer_of(e)) in train_shapes]
    assert not shared, f"held-out queries whose shape is in train: {shared[:3]}"


def test_no_test_answer_or_question_appears_in_training():
    train_answers = {answer_of(e) for e in TRAIN + MORE}
    assert not [answer_of(e) for e in TEST if answer_of(e) in train_answers]
    questions = [question_of(e).lower() for e in TRAIN + MORE + VALIDATION + TEST]
    assert len(set(questions)) == len(questions)


def best_similarity(question: str, others: list[str], floor: float = 0.0) -> float:
    """The highest difflib ratio between `question` and any of `others`, or `floor` if none reaches it (the
    cheap upper bounds then skip most of the exact comparisons)."""
    best = floor
    matcher = difflib.SequenceMatcher(b=question, autojunk=False)  # the question's index is built once
    for other in others:
        matcher.set_seq1(other)
        if matcher.real_quick_ratio() > best and matcher.quick_ratio() > best:
            best = max(best, matcher.ratio())
    return best


def test_no_test_question_is_a_near_copy_of_a_training_question():
    by_template: dict[str, list[str]] = {}
    for e in TRAIN:
        by_template.setdefault(e["template"], []).append(question_of(e).lower())
    everything = [q for qs in by_template.values() for q in qs] + [question_of(e).lower() for e in MORE]
    same_template = max(best_similarity(question_of(t).lower(), by_template.get(t["template"], [])) for t in TEST)
    anywhere = max(best_similarity(question_of(t).lower(), everything, floor=0.75) for t in TEST)
    assert same_template < 0.8, f"a test question is {same_template:.0%} like a training question of its template"
    assert anywhere < NEAR_COPY, f"a test question is {anywhere:.0%} like a training question"


def test_the_generator_writes_the_shipped_files_exactly(tmp_path):
    """`python make_pairs.py` rebuilds the database and the four files of pairs byte for byte, under another string-hash
    seed too (a set's order once decided which word of a question got an everyday alias)."""
    import shutil
    import subprocess
    import sys

    from course_lib.datasets import itdb_path

    folder = itdb_path("train").parent
    for name in ("make_pairs.py", "compose.py", "build_db.py", "independent.jsonl"):
        shutil.copy(folder / name, tmp_path / name)
    subprocess.run([sys.executable, "make_pairs.py"], cwd=tmp_path, check=True, capture_output=True,
                   env={**os.environ, "PYTHONHASHSEED": "12345"})
    for name in ("it.sqlite", "schema.txt", "train.jsonl", "validation.jsonl", "test.jsonl", "train_more.jsonl"):
        assert (tmp_path / name).read_bytes() == (folder / name).read_bytes(), f"{name} differs from the generator's"


def test_shipped_training_files_pass_the_validator_against_test():
    report = validate_lines([json.dumps(e) for e in TRAIN], "train.jsonl", holdout=TEST, count_tokens=count_words)
    assert report.ok, report
    assert len(report.examples) == len(TRAIN)
    both = validate_lines([json.dumps(e) for e in TRAIN + MORE], "train.jsonl + train_more.jsonl", holdout=TEST,
                          count_tokens=count_words)  # what train-longer trains on: no duplicate, no test item
    assert both.ok, both
    assert len(both.examples) == len(TRAIN) + len(MORE)


def test_the_independent_set_has_three_parts_and_no_training_question():
    parts = [e["part"] for e in INDEPENDENT]
    assert {p: parts.count(p) for p in set(parts)} == {"simple": 26, "medium": 25, "hard": 28}
    train_questions = [question_of(e).lower() for e in TRAIN + MORE]
    closest = max(best_similarity(question_of(e).lower(), train_questions, floor=0.75) for e in INDEPENDENT)
    assert closest < NEAR_COPY, f"an independent question is {closest:.0%} like a training question"


def test_the_reserve_sets_run_and_copy_no_training_question():
    """The two reserve sets beside the benchmarks (written from the schema and the database alone, used to choose
    nothing): every gold query runs and returns rows, all three parts are there, no question is a near copy of a
    training question."""
    from course_lib.datasets import question_lines_as_pairs, read_jsonl

    train_questions = [question_of(e).lower() for e in TRAIN + MORE]
    for name in ("sql_reserve_questions.jsonl", "sql_analyst_questions.jsonl"):
        pairs = question_lines_as_pairs(read_jsonl(ROOT / "benchmarks" / name))
        assert len(pairs) >= 60 and {e["part"] for e in pairs} == {"simple", "medium", "hard"}, name
        assert all(run_query(answer_of(e)).rows for e in pairs), name
        closest = max(best_similarity(question_of(e).lower(), train_questions, floor=0.75) for e in pairs)
        assert closest < NEAR_COPY, f"a question of {name} is {closest:.0%} like a training question"


def test_every_gold_query_runs_and_returns_rows():
    for item in TRAIN[:50] + TEST:
        assert run_query(answer_of(item)).rows, answer_of(item)


# -- the database and execution accuracy -------------------------------------------------------------------------

def test_run_query_is_read_only_and_reports_errors():
    assert run_query("SELECT COUNT(*) FROM departments").rows == [(13,)]
    with pytest.raises(SQLError, match="change the database|readonly|read-only"):
        run_query("DELETE FROM departments")
    with pytest.raises(SQLError, match="no such column"):
        run_query("SELECT nope FROM departments")
    with pytest.raises(SQLError, match="empty"):
        run_query("  ")
    assert run_query("SELECT COUNT(*) FROM departments").rows == [(13,)]  # still there


def test_run_query_stops_a_runaway_query():
    runaway = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT COUNT(*) FROM n")
    with pytest.raises(SQLError, match="longer than"):
        run_query(runaway, time_limit_s=0.2)


@pytest.mark.parametrize("predicted, gold, expected", [
    ("SELECT name FROM departments ORDER BY name DESC", "SELECT name FROM departments", True),  # order is free
    ("SELECT name FROM departments ORDER BY name DESC", "SELECT name FROM departments ORDER BY name", False),
    ("SELECT name FROM departments d ORDER BY d.name", "SELECT name FROM departments ORDER BY name", True),
    ("SELECT location FROM departments", "SELECT DISTINCT location FROM departments", False),  # duplicates count
    ("SELECT COUNT(*) AS n FROM employees", "SELECT COUNT(*) FROM employees", True),  # names do not matter
    ("SELECT AVG(budget_usd) FROM departments", "SELECT ROUND(AVG(budget_usd), 2) FROM departments", True),
    ("SELECT name, location FROM departments", "SELECT location, name FROM departments", False),
    ("SELECT nme FROM departments", "SELECT name FROM departments", False),  # fails to run
    ("", "SELECT name FROM departments", False),
])
def test_execution_match(predicted, gold, expected):
    assert execution_match(predicted, gold) is expected


def test_results_match_treats_rows_as_multisets_unless_ordered():
    assert results_match([(1,), (2,), (2,)], [(2,), (1,), (2,)], ordered=False)
    assert not results_match([(1,), (2,)], [(1,), (2,), (2,)], ordered=False)
    assert not results_match([(2,), (1,)], [(1,), (2,)], ordered=True)
    assert results_match([(1.004,)], [(1.0,)], ordered=True)


@pytest.mark.parametrize("text, sql", [
    (" SELECT 1", "SELECT 1"),
    ("```sql\nSELECT name\nFROM departments;\n```", "SELECT name FROM departments"),
    ("Here you go: select * from t; DROP TABLE t", "select * from t"),
    ("SELECT a FROM t\n\nUser: next question", "SELECT a FROM t"),
    ("I don't know.", ""),
])
def test_extract_sql(text, sql):
    assert extract_sql(text) == sql


def test_is_valid_sql():
    assert is_valid_sql("SELECT 1") and not is_valid_sql("SELEC 1")


# -- the validator -----------------------------------------------------------------------------------------------

GOOD = json.dumps({"messages": [{"role": "system", "content": "Answer in SQL."},
                                {"role": "user", "content": "How many departments are there?"},
                                {"role": "assistant", "content": "SELECT COUNT(*) FROM departments"}]})
BAD_LINES = {
    "malformed_json": '{"messages": [{"role": "user", "content": "hi"}',
    "bad_structure": '{"prompt": "hi", "completion": "SELECT 1"}',
    "wrong_role": json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "x"}]}),
    "empty_content": json.dumps({"messages": [{"role": "user", "content": "hi"},
                                              {"role": "assistant", "content": "  "}]}),
    "too_long": json.dumps({"messages": [{"role": "user", "content": "word " * 600},
                                         {"role": "assistant", "content": "SELECT 1"}]}),
}


def test_validator_names_each_bad_line_and_what_is_wrong():
    leak = json.dumps({"messages": TEST[0]["messages"]})
    lines = [GOOD, *BAD_LINES.values(), GOOD, "", leak]
    report = validate_lines(lines, "broken.jsonl", holdout=TEST, count_tokens=count_words)
    found = {(i.line, i.kind) for i in report.issues}
    expected = {(n, kind) for n, kind in enumerate(BAD_LINES, start=2)} | {(7, "duplicate"), (9, "test_leak")}
    assert found == expected, report
    assert report.lines == 8 and len(report.examples) == 1 and report.example_lines == [1]
    text = repr(report)
    assert "broken.jsonl:7: duplicate: same messages as line 1" in text
    assert "broken.jsonl:2: malformed_json" in text


@pytest.mark.parametrize("messages, fragment", [
    ([{"role": "assistant", "content": "SELECT 1"}], "take turns"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}],
     "last message"),
    ([{"role": "user", "content": "a"}, {"role": "system", "content": "b"}, {"role": "assistant", "content": "c"}],
     "only come first"),
    ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}],
     "take turns"),
])
def test_validator_role_rules(messages, fragment):
    report = validate_lines([json.dumps({"messages": messages})], count_tokens=count_words)
    assert report.issues and report.issues[0].kind == "wrong_role" and fragment in report.issues[0].message


def test_validator_catches_near_copies_of_test_questions():
    item = json.loads(json.dumps(TEST[5]))
    item["messages"][1]["content"] = question_of(TEST[5]).upper() + " "  # case and spacing changed
    item["messages"][2]["content"] = "SELECT 1"
    near = json.loads(json.dumps(TEST[6]))
    question = question_of(TEST[6])
    near["messages"][1]["content"] = question[:-1] + ("." if question[-1] != "." else "!")  # one character changed
    near["messages"][2]["content"] = "SELECT 2"
    report = validate_lines([json.dumps(item), json.dumps(near)], holdout=TEST, count_tokens=count_words)
    assert [i.kind for i in report.issues] == ["test_leak", "test_leak"], report


def test_training_refuses_a_bad_file_unless_told(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join([GOOD, BAD_LINES["malformed_json"], BAD_LINES["wrong_role"]]) + "\n")
    with pytest.raises(DataError) as info:
        load_training_examples(path, count_tokens=count_words)
    message = str(info.value)
    assert f"{path}:2: malformed_json" in message and f"{path}:3: wrong_role" in message
    assert "allow_bad_lines=True" in message
    assert len(load_training_examples(path, allow_bad_lines=True, count_tokens=count_words)) == 1
    assert validate_training_file(path, count_tokens=count_words).bad_lines == [2, 3]


# -- tokens, cost, bad data -------------------------------------------------------------------------------------

@pytest.mark.model
def test_token_stats_with_the_real_tokenizer():
    stats = token_stats(TRAIN[:20])
    assert stats["examples"] == 20
    assert 20 * 30 < stats["tokens"] < 20 * 200
    assert 0 < stats["answer_tokens"] < stats["tokens"]


def test_estimate_training_cost():
    prices = {"as_of": "2025-01-01", "fine_tuning": {"m": {"training_per_1m_tokens": 3.0}}}
    cost = estimate_training_cost(500_000, epochs=3, model="m", prices=prices)
    assert cost["trained_tokens"] == 1_500_000 and cost["usd"] == pytest.approx(4.5)
    assert estimate_training_cost(1000)["as_of"]  # the shipped table is dated
    with pytest.raises(KeyError, match="No fine-tuning price"):
        estimate_training_cost(1000, model="nope")


def test_corrupt_answers_swaps_valid_sql_between_questions():
    corrupted, changed = corrupt_answers(TRAIN, share=0.4, seed=1)
    assert len(corrupted) == len(TRAIN) and abs(len(changed) - 0.4 * len(TRAIN)) <= 5
    assert all(answer_of(corrupted[i]) != answer_of(TRAIN[i]) for i in changed)
    assert all(corrupted[i] == TRAIN[i] for i in range(len(TRAIN)) if i not in set(changed))
    assert TRAIN[changed[0]]["messages"][-1]["content"] != corrupted[changed[0]]["messages"][-1]["content"]
    report = validate_lines([json.dumps(e) for e in corrupted], count_tokens=count_words)
    assert report.ok, "a format validator cannot see a wrong answer"


def test_ungrounded_values_flags_most_swapped_answers_and_few_clean_ones():
    clean_flags = sum(bool(ungrounded_values(e)) for e in TRAIN)
    corrupted, changed = corrupt_answers(TRAIN, share=0.4, seed=1)
    caught = sum(bool(ungrounded_values(corrupted[i])) for i in changed)
    assert clean_flags <= 0.03 * len(TRAIN), clean_flags
    assert caught >= 0.6 * len(changed), (caught, len(changed))


@pytest.mark.parametrize("question, sql, missing", [
    ("purchases over $50k", "SELECT COUNT(*) FROM purchases WHERE amount_usd > 50000", []),
    ("purchases over 50,000 dollars", "SELECT COUNT(*) FROM purchases WHERE amount_usd > 50000", []),
    ("laptops above $1.5k", "SELECT COUNT(*) FROM devices WHERE type = 'laptop' AND cost_usd > 1500", []),
    ("the 3 priciest laptops", "SELECT ROUND(cost_usd, 2) FROM devices WHERE type = 'laptop' ORDER BY cost_usd DESC "
     "LIMIT 3", []),
    ("purchases over $5k", "SELECT COUNT(*) FROM purchases WHERE amount_usd > 50000", ["50000"]),
    ("the 3 priciest phones", "SELECT model FROM devices WHERE type = 'laptop' ORDER BY cost_usd DESC LIMIT 5",
     ["laptop", "5"]),
])
def test_ungrounded_values_reads_numbers_as_people_write_them(question, sql, missing):
    example = {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": sql}]}
    assert ungrounded_values(example) == missing


# -- the hosted path, through the real SDK against a stand-in service ---------------------------------------------

def test_hosted_fine_tune_uploads_creates_follows_and_returns_the_model(tmp_path):
    import httpx2 as httpx
    import openai

    from course_lib.finetune import hosted_fine_tune

    seen = []
    job = {"id": "ftjob-1", "object": "fine_tuning.job", "model": "gpt-4o-mini-2024-07-18", "created_at": 0,
           "status": "running", "fine_tuned_model": None, "organization_id": "org", "result_files": [],
           "seed": 0, "training_file": "file-1", "validation_file": "file-2", "hyperparameters": {},
           "error": None, "finished_at": None, "trained_tokens": None}
    polls = iter(["running", "succeeded"])

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path))
        if request.method == "GET" and "/files/" in request.url.path:  # files.retrieve: has processing finished?
            return httpx.Response(200, json={"id": request.url.path.rsplit("/", 1)[1], "object": "file", "bytes": 1,
                                             "created_at": 0, "filename": "x.jsonl", "purpose": "fine-tune",
                                             "status": "processed"})
        if request.url.path.endswith("/files"):
            body = request.read()
            assert b'"template"' not in body and b'"messages"' in body, "only the messages are uploaded"
            number = sum(1 for m, p in seen if m == "POST" and p.endswith("/files"))
            return httpx.Response(200, json={"id": f"file-{number}", "object": "file", "bytes": len(body),
                                             "created_at": 0, "filename": "x.jsonl", "purpose": "fine-tune",
                                             "status": "processed"})
        if request.url.path.endswith("/fine_tuning/jobs") and request.method == "POST":
            sent = json.loads(request.read())
            assert sent["training_file"] == "file-1" and sent["validation_file"] == "file-2"
            assert sent["method"]["supervised"]["hyperparameters"]["n_epochs"] == 3
            return httpx.Response(200, json={**job, "status": "validating_files"})
        if request.url.path.endswith("/events"):
            return httpx.Response(200, json={"object": "list", "has_more": False, "data": [
                {"id": "ev-1", "object": "fine_tuning.job.event", "created_at": 0, "level": "info",
                 "message": "Step 10/30: training loss=0.42"}]})
        status = next(polls)
        return httpx.Response(200, json={**job, "status": status,
                                         "fine_tuned_model": "ft:gpt-4o-mini:org:sql:1" if status == "succeeded"
                                         else None})

    client = openai.OpenAI(api_key="test", base_url="http://hosted.invalid/v1",
                           http_client=openai.DefaultHttpxClient(transport=httpx.MockTransport(handle)))
    log = []
    finished = hosted_fine_tune(client, TRAIN[:5], VALIDATION[:2], folder=tmp_path, poll_s=0, log=log.append)
    assert finished.status == "succeeded" and finished.fine_tuned_model == "ft:gpt-4o-mini:org:sql:1"
    assert any("training loss" in line for line in log)
    assert [p for m, p in seen][:5] == ["/v1/files", "/v1/files/file-1", "/v1/files", "/v1/files/file-2",
                                        "/v1/fine_tuning/jobs"]  # each upload waits until it is processed


def test_an_evaluation_counts_right_answers_by_part():
    items = [{"part": "simple"}, {"part": "hard"}, {"part": "simple"}, {"part": "simple"}]
    evaluation = SQLEvaluation("x", 0.5, 1.0, 10.0, 5.0, 0.1,
                               [{"correct": c} for c in (True, False, False, True)])
    assert evaluation.by_part(items) == {"simple": (2, 3), "hard": (0, 1)}
    with pytest.raises(ValueError):  # answers and items must be the same list, in order
        evaluation.by_part(items[:3])
