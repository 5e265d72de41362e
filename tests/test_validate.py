"""`python -m course_lib validate` and `progress`: real notebooks in real kernels, a real unreachable address."""

import subprocess
import sys

import nbformat
from conftest import ROOT, free_port, local_env

from course_lib.validate import read_progress, select_notebooks


def run_cli(*args, env=None, timeout=900):
    return subprocess.run([sys.executable, "-m", "course_lib", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env or local_env(), timeout=timeout)


def test_select_notebooks_by_lesson():
    chosen = select_notebooks(["00"])
    assert [p.parent.name for p in chosen] == ["notebooks", "exercises", "solutions"]
    assert all(p.stem == "00_setup" for p in chosen)
    assert select_notebooks(["99"]) == []


def test_validate_runs_a_lesson_and_reports_its_time():
    result = run_cli("validate", "00", "--folders", "exercises,solutions")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("PASS  exercises/00_setup.ipynb") and lines[0].endswith(" s")
    assert lines[1].startswith("PASS  solutions/00_setup.ipynb")
    assert lines[-1].startswith("2 passed, 0 failed")


def test_validate_fails_in_one_line_when_the_server_is_unreachable():
    env = local_env(COURSE_PROVIDER="compatible", OPENAI_BASE_URL=f"http://127.0.0.1:{free_port()}/v1",
                    COURSE_MODEL="gemma-3-270m")
    result = run_cli("validate", "00", env=env, timeout=120)
    assert result.returncode == 1
    assert result.stdout.strip().count("\n") == 0, result.stdout
    assert result.stdout.startswith("FAIL  provider: Could not reach http://127.0.0.1:")


def test_validate_reports_a_failing_notebook(tmp_path):
    lesson = tmp_path / "notebooks"
    lesson.mkdir()
    for folder in ("exercises", "solutions"):
        (tmp_path / folder).mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("assert x == 2, 'the claim broke'")]
    nbformat.write(nb, lesson / "98_broken.ipynb")
    from course_lib.validate import run_notebook

    passed, seconds, reason = run_notebook(lesson / "98_broken.ipynb", timeout=120)
    assert not passed and seconds > 0
    assert reason == "cell 1: AssertionError: the claim broke"
    nb.cells = nb.cells[:1]
    nbformat.write(nb, lesson / "97_fine.ipynb")
    assert run_notebook(lesson / "97_fine.ipynb", timeout=120)[0]
    import psutil

    kernels = [p for p in psutil.Process().children(recursive=True) if "ipykernel" in " ".join(p.cmdline())]
    assert not kernels, "each notebook's kernel must be stopped once the notebook has run"


def test_progress_reads_the_learners_saved_outputs(tmp_path):
    source = nbformat.read(ROOT / "exercises" / "00_setup.ipynb", as_version=4)
    check_cells = [c for c in source.cells if c.cell_type == "code" and "q1.check()" in c.source]
    check_cells[0].outputs = [nbformat.v4.new_output(
        "display_data", data={"text/plain": "Correct: q1 · whatever the title", "text/html": "<b>Correct</b>"})]
    nbformat.write(source, tmp_path / "00_setup.ipynb")
    progress = read_progress(tmp_path)
    assert progress["00_setup"]["q1"] == "Correct"
    assert set(progress["00_setup"].values()) == {"Correct", "Not attempted"}
    report = run_cli("progress", str(tmp_path), timeout=120)
    assert report.returncode == 0 and "00_setup" in report.stdout and "1/3 Correct" in report.stdout


def test_site_holds_the_executed_lesson_and_an_index(tmp_path):
    result = run_cli("site", "00", "--out", str(tmp_path / "site"))
    assert result.returncode == 0, result.stdout + result.stderr
    page = (tmp_path / "site" / "00_setup.html").read_text(encoding="utf-8")
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "provider=local" in page  # an output of the first cell: it was executed
    assert 'href="00_setup.html"' in index and "executed in" in index
    assert not list(tmp_path.glob(".site-*"))


def test_slides_start_a_slide_at_each_heading(tmp_path):
    result = run_cli("slides", "00", "--out", str(tmp_path / "slides"), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    deck = (tmp_path / "slides" / "00_setup.slides.html").read_text(encoding="utf-8")
    nb = nbformat.read(ROOT / "notebooks" / "00_setup.ipynb", as_version=4)
    headings = sum(c.cell_type == "markdown" and c.source.lstrip().startswith(("# ", "## ")) for c in nb.cells)
    assert deck.count("<section") >= headings > 3


def test_site_names_the_failing_notebook_and_keeps_the_old_site(tmp_path, monkeypatch):
    from course_lib import publish

    broken = tmp_path / "notebooks" / "98_broken.ipynb"
    broken.parent.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Broken"), nbformat.v4.new_code_cell("1 / 0")]
    nbformat.write(nb, broken)
    monkeypatch.setattr(publish, "lesson_notebooks", lambda lessons: [broken])
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.html").write_text("the previous site")
    try:
        publish.build_site(out, ["98"], timeout=120)
    except RuntimeError as exc:
        message = str(exc)
    else:
        raise AssertionError("a failing lesson must stop the build")
    assert message.startswith("notebooks/98_broken.ipynb failed, cell 1: ZeroDivisionError"), message
    assert (out / "index.html").read_text() == "the previous site"
    assert not list(tmp_path.glob(".site-*"))


def test_the_provider_check_does_not_keep_the_model_loaded():
    check = ("import gc; from course_lib import validate; from course_lib.runtime import engine; "
             "assert validate.provider_problem() is None; "
             "gc.collect(); engines = [o for o in gc.get_objects() if isinstance(o, engine.LocalEngine)]; "
             "assert engines and all(e._server is None for e in engines), 'a model is still loaded'; "
             "print('released')")
    result = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, env=local_env(),
                            timeout=300)
    assert result.returncode == 0 and "released" in result.stdout, result.stderr[-1500:]


def test_recorded_usage_prices_the_course_without_running_it(client, tmp_path, monkeypatch):
    import io

    from course_lib import validate

    monkeypatch.setenv("COURSE_USAGE_LOG", str(tmp_path / "usage.jsonl"))
    replies = [client.chat.completions.create(model="gemma-3-270m", max_tokens=3, temperature=0,
                                              messages=[{"role": "user", "content": text}]) for text in ("Hi", "Yo")]
    counts = validate._sum_usage(tmp_path / "usage.jsonl")
    assert counts == {"requests": 2, "prompt_tokens": sum(r.usage.prompt_tokens for r in replies),
                      "completion_tokens": sum(r.usage.completion_tokens for r in replies)}
    monkeypatch.setattr(validate, "USAGE_FILE", tmp_path / "course_usage.json")
    missing = io.StringIO()
    assert validate.estimate_cost(["00"], out=missing) == 1  # nothing measured yet: one line saying how
    assert missing.getvalue().startswith("FAIL") and "--record-usage" in missing.getvalue()
    validate.write_usage({"exercises/00_setup.ipynb": counts})
    for name, value in {"COURSE_PROVIDER": "openai", "OPENAI_API_KEY": "sk-test", "COURSE_MODEL": "gpt-4o"}.items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    assert validate.estimate_cost(["00"], ("exercises", "solutions"), out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].split()[0] == "exercises/00_setup.ipynb" and "2 requests" in lines[0] and "$" in lines[0]
    assert lines[1].startswith("?") and "not measured yet" in lines[1]
    assert lines[-1].startswith("about $") and "on gpt-4o" in lines[-1]
