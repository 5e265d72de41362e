"""Every exercise: untouched -> Not attempted, the solution -> Correct, a wrong answer -> Incorrect with a reason."""

import pytest

from course_lib.checks import INCORRECT, NOT_ATTEMPTED
from course_lib.notebooks import ROOT, answer_cells, exercise_module, make_solution, write_solutions

EXERCISES = sorted((ROOT / "exercises").glob("[0-9][0-9]_*.ipynb"))

# One deliberately wrong answer per question, as a learner might write it: (notebook stem, question) -> code.
WRONG = {
    ("00_setup", "q1"): 'first = "Fernleaf Home makes cleaning products that are green"',
    ("00_setup", "q2"): 'n_tokens = len("Are eyeglasses covered by my health plan?".split())',
    ("00_setup", "q3"): 'def ask(question, max_tokens=20):\n    return question.upper()',
    ("01_prompt_engineering", "q1"): 'def my_prompt(review):\n    return few_shot_prompt(review["text"])',
    ("01_prompt_engineering", "q2"): 'def parse_sentiment(text):\n    return text.strip().lower() or None',
    ("01_prompt_engineering", "q3"): 'def json_prompt(message):\n    return "Describe: " + message["text"]',
    ("01_prompt_engineering", "q4"): 'def delimit(text):\n    return "<review>" + text + "</review>"',
    ("01_prompt_engineering", "q5"): 'hard_cases = [{"text": "Love it, works great.", "label": "positive"}] * 5',
    ("01_prompt_engineering", "q6"): 'cost_usd = 0.05',
    ("02_rag", "q1"): 'def chunk_words(text, size, overlap):\n    w = text.split()\n'
                      '    return [" ".join(w[i:i + size]) for i in range(0, len(w), size)]',
    ("02_rag", "q2"): 'def recall_at_k(retrieved, relevant, k):\n'
                      '    return len(set(retrieved[:k]) & set(relevant)) / k',
    ("02_rag", "q3"): 'def mean_reciprocal_rank(runs):\n'  # the rank of the last relevant item, not the first
                      '    return sum(1 / (max(r.index(x) for x in s if x in r) + 1) if set(r) & s else 0'
                      ' for r, s in runs) / len(runs)',
    ("02_rag", "q4"): 'def fuse(rankings, k=60):\n'
                      '    return list(dict.fromkeys(i for r in rankings for i in r))',
    ("02_rag", "q5"): 'chunk_size = 400\noverlap = 0\nk = 5',
    ("02_rag", "q6"): 'def where_for(question):\n    return {"year": 2026}',
    ("02_rag", "q7"): 'def build_messages(question, passages):\n'  # no markers around the passages
                      '    rules = "Use only the passages; cite [n]; else say: I don\\\'t know."\n'
                      '    return [{"role": "system", "content": rules},\n'
                      '            {"role": "user", "content": "\\n".join(passages) + "\\nQuestion: " + question}]',
    ("03_fine_tuning", "q1"): 'fixed_lines = [line for line in broken_training_lines() if line.endswith("}")][:3]',
    ("03_fine_tuning", "q2"): 'def find_leaks(train, test):\n'
                              '    asked = {t["messages"][-2]["content"] for t in test}\n'
                              '    return [i for i, e in enumerate(train) if e["messages"][-2]["content"] in asked]',
    ("03_fine_tuning", "q3"): 'cost_usd = 0.12',
    ("03_fine_tuning", "q4"): 'def answer_labels(prompt_ids, answer_ids):\n'
                              '    return list(prompt_ids) + list(answer_ids)',
    ("03_fine_tuning", "q5"): 'from course_lib.finetune import TrainConfig\n'
                              'config = TrainConfig(steps=500, batch_size=4)',
    ("03_fine_tuning", "q6"): 'def execution_match(predicted_sql, gold_sql):\n'
                              '    return " ".join(predicted_sql.split()) == " ".join(gold_sql.split())',
    ("03_fine_tuning", "q7"): 'def looks_wrong(example):\n    return "JOIN" in example["messages"][-1]["content"]',
    ("04_combining", "q1"): 'from course_lib.assistant import load_requests, route_prompt\n'
                            'shots = [r for r in load_requests("dev")][:6]\n'
                            'def my_route_prompt(request):\n    return route_prompt(request, shots)',
    ("04_combining", "q2"): 'def keyword_route(request):\n'
                            '    return "data" if "how many" in request.lower() else "policy"',
    ("04_combining", "q3"): 'choices = {"A": "fine-tuning", "B": "prompt engineering", "C": "fine-tuning",\n'
                            '           "D": "prompt engineering", "E": "RAG", "F": "RAG"}',
    ("04_combining", "q4"): 'def best_under_budget(summary, max_tokens):\n'
                            '    return max(summary, key=lambda name: summary[name]["quality"])',
}


def run_answers(nb, cells) -> dict:
    """Run a notebook's setup cells and answer cells (without their check calls); return {question: Result}."""
    first_answer = cells[0][0]
    namespace: dict = {}
    for cell in nb.cells[:first_answer]:
        if cell.cell_type == "code":
            exec(compile(cell.source, "<setup cell>", "exec"), namespace)
    results = {}
    for index, name in cells:
        source = "\n".join(line for line in nb.cells[index].source.splitlines() if line.strip() != f"{name}.check()")
        exec(compile(source, f"<answer cell {name}>", "exec"), namespace)
        results[name] = namespace[name].evaluate(namespace)
    return results


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.model) if p.stem.startswith("03") else p
                                  for p in EXERCISES], ids=lambda p: p.stem)  # 03's setup counts real tokens
def test_untouched_exercises_are_not_attempted(path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    results = run_answers(nb, answer_cells(nb))
    assert results and all(r.outcome == NOT_ATTEMPTED for r in results.values()), results


def test_solutions_end_by_asserting_every_check_is_correct():
    """nbval executes the solutions notebooks; their last cell fails unless every check said Correct."""
    from course_lib.notebooks import ALL_CORRECT

    for path in EXERCISES:
        solved = make_solution(path)
        assert solved.cells[-1].source == ALL_CORRECT
        assert len(answer_cells(solved)) == 0, "every placeholder answer cell got its solution"


# Wrong answers that the check can refuse only after measuring with a model (the chat model, the tokenizer)
NEEDS_MODEL = {("00_setup", "q2"), ("00_setup", "q3"), ("01_prompt_engineering", "q1"),
               ("01_prompt_engineering", "q3"), ("01_prompt_engineering", "q6"), ("03_fine_tuning", "q1"),
               ("03_fine_tuning", "q3"), ("04_combining", "q1")}


@pytest.mark.parametrize("key", [pytest.param(k, marks=pytest.mark.model) if k in NEEDS_MODEL else k
                                 for k in sorted(WRONG)], ids=lambda k: f"{k[0]}-{k[1]}")
def test_wrong_answers_are_incorrect_with_a_reason(key):
    stem, name = key
    module = exercise_module(ROOT / "exercises" / f"{stem}.ipynb")
    question = getattr(module, name)
    namespace = dict(vars(module))
    setup = ("from course_lib.prompting import few_shot_prompt\nfrom course_lib.llm import setup\n"
             "client, settings = setup(show=False)\nMODEL = settings.chat_model")
    exec(compile(setup, "<setup>", "exec"), namespace)
    exec(compile(WRONG[key], "<wrong answer>", "exec"), namespace)
    result = question.evaluate(namespace)
    assert result.outcome == INCORRECT and len(result.message) > 20, result
    assert "loads a model" not in result.message, "refused for the wrong reason: " + result.message


def test_few_shot_examples_taken_from_the_scored_reviews_are_refused():
    """The cheapest way to game 01 q1: show the model the very dev reviews the check scores on."""
    module = exercise_module(ROOT / "exercises" / "01_prompt_engineering.ipynb")
    namespace = dict(vars(module))
    exec(compile("from course_lib.datasets import load_reviews\nfrom course_lib.prompting import few_shot_prompt\n"
                 "dev = load_reviews('dev')\n"
                 "def my_prompt(review):\n    return few_shot_prompt(review['text'], dev[:12])", "<game>", "exec"),
         namespace)
    result = module.q1.evaluate(namespace)
    assert result.outcome == INCORRECT and "dev split" in result.message, result


def test_every_question_has_a_wrong_answer_case():
    for path in EXERCISES:
        module = exercise_module(path)
        for question in module.progress.questions:
            assert (path.stem, question.name) in WRONG, f"add a wrong answer for {path.stem} {question.name}"
            assert question.hints and question.reference_code(), f"{path.stem} {question.name} needs hints"


def test_solution_notebooks_are_up_to_date():
    assert write_solutions(check_only=True) == 0, "run `python -m course_lib solutions`"
