"""Interactive tools for notebooks, each with a plain-text fallback where widgets cannot render.

- `prompt_playground`: try a system and user message, few-shot examples on or off, temperature and max tokens;
  see the answer, its tokens, the latency and the exact prompt the model read. Taught in 01_prompt_engineering.
- `retrieval_explorer`: type a question; see the top-k chunks with scores and the question's words highlighted,
  the grounded prompt that would be sent, and the answer. Taught in 02_rag.
"""

from __future__ import annotations

import html
import re
import time

from .prompting import LABELS


def run_prompt(client, model: str, system: str, user: str, examples: list[dict] = (), temperature: float = 0.0,
               max_tokens: int = 40) -> dict:
    """One chat request as the playground sends it; returns the answer, usage, latency and rendered prompt."""
    messages = [{"role": "system", "content": system}] if system.strip() else []
    for e in examples:
        messages += [{"role": "user", "content": e["text"]}, {"role": "assistant", "content": e["label"]}]
    messages.append({"role": "user", "content": user})
    started = time.perf_counter()
    response = client.chat.completions.create(model=model, messages=messages, temperature=temperature,
                                              max_tokens=max_tokens)
    latency = time.perf_counter() - started
    from .llm import local_engine

    if local_engine(client) is not None:
        from .local import render_chat

        rendered = render_chat(messages)[0]
    else:  # a hosted model renders messages its own way; show what was sent
        rendered = "\n".join(f"[{m['role']}] {m['content']}" for m in messages)
    return {"answer": response.choices[0].message.content or "", "finish_reason": response.choices[0].finish_reason,
            "prompt_tokens": response.usage.prompt_tokens if response.usage else None,
            "completion_tokens": response.usage.completion_tokens if response.usage else None,
            "latency_s": latency, "rendered_prompt": rendered, "messages": messages}


def _report_text(result: dict) -> str:
    return (f"answer: {result['answer']!r}\nfinish_reason: {result['finish_reason']} · prompt tokens: "
            f"{result['prompt_tokens']} · completion tokens: {result['completion_tokens']} · latency: "
            f"{result['latency_s']:.2f} s\n--- the prompt as the model read it (local) or as it was sent ---\n"
            f"{result['rendered_prompt']}")


def prompt_playground(client, model: str, examples: list[dict] = (), system: str = "", user: str = "",
                      temperature: float = 0.0, max_tokens: int = 8):
    """An ipywidgets playground; where widgets cannot render, runs the default request once and prints it."""
    try:
        import ipywidgets as w
        from IPython.display import HTML, display
    except ImportError:
        print(_report_text(run_prompt(client, model, system, user, examples, temperature, max_tokens)))
        return None

    system_box = w.Textarea(value=system, description="system", layout=w.Layout(width="95%", height="60px"))
    user_box = w.Textarea(value=user, description="user", layout=w.Layout(width="95%", height="80px"))
    shots = w.Checkbox(value=bool(examples), description=f"few-shot examples ({len(examples)})",
                       disabled=not examples)
    temp = w.FloatSlider(value=temperature, min=0.0, max=1.5, step=0.1, description="temperature")
    length = w.IntSlider(value=max_tokens, min=1, max=200, description="max tokens")
    run = w.Button(description="Run", button_style="primary")
    out = w.Output()

    def on_run(_=None):
        out.clear_output()
        with out:
            try:
                result = run_prompt(client, model, system_box.value, user_box.value,
                                    examples if shots.value else [], temp.value, length.value)
            except Exception as exc:  # noqa: BLE001 - show the provider's error in the widget, not a traceback
                print(f"The request failed: {type(exc).__name__}: {exc}")
                return
            verdict = result["answer"].strip().split()[0].lower() if result["answer"].strip() else ""
            badge = " (a label)" if verdict.strip(".,!") in LABELS else ""
            display(HTML(f"<b>answer</b>{badge}: <code>{html.escape(result['answer'])}</code><br>"
                         f"{result['prompt_tokens']} prompt + {result['completion_tokens']} completion tokens · "
                         f"{result['latency_s']:.2f} s · finish: {result['finish_reason']}"
                         f"<details><summary>the prompt (as the local model read it, or as sent)</summary><pre>"
                         f"{html.escape(result['rendered_prompt'])}</pre></details>"))

    run.on_click(on_run)
    # The default request runs once as plain text too, so the cell shows something useful where widgets don't render.
    print(_report_text(run_prompt(client, model, system, user, examples, temperature, max_tokens)))
    return w.VBox([system_box, user_box, w.HBox([shots, temp, length, run]), out])  # the notebook displays it


def highlight(text: str, question: str) -> str:
    """HTML of text with the question's longer words marked, so you can see why BM25 liked a chunk."""
    words = sorted({w for w in re.findall(r"[A-Za-z0-9$%]{4,}", question)}, key=len, reverse=True)
    escaped = html.escape(text)
    if not words:
        return escaped
    pattern = re.compile("|".join(re.escape(html.escape(w)) for w in words), re.IGNORECASE)
    return pattern.sub(lambda m: f"<mark>{m.group(0)}</mark>", escaped)


def explore(answerer, question: str, k: int | None = None, generate: bool = True) -> dict:
    """What the explorer shows for one question: hits, the grounded prompt and (optionally) the answer."""
    from .rag import grounded_prompt

    k = k or answerer.k
    where = answerer.where(question) if callable(answerer.where) else answerer.where
    hits = answerer.retriever.search(question, k=k, where=where)
    result = {"question": question, "where": where, "hits": hits,
              "prompt": grounded_prompt(question, hits, answerer.examples), "answer": None}
    if generate:
        saved_k, answerer.k = answerer.k, k
        try:
            result["answer"] = answerer.answer(question)
        finally:
            answerer.k = saved_k
    return result


def _explore_text(result: dict) -> str:
    lines = [f"question: {result['question']}  (filter: {result['where']})"]
    for hit in result["hits"]:
        first = hit.chunk.text.split("\n", 1)[-1][:160].replace("\n", " ")
        lines.append(f"  {hit.rank}. {hit.score:.3f}  {hit.chunk.chunk_id}  {', '.join(hit.chunk.passages)}\n"
                     f"     {first}...")
    if result["answer"] is not None:
        answer = result["answer"]
        lines.append(f"answer: {answer.text}  (citations {answer.citations}, {answer.prompt_tokens} prompt tokens)")
    return "\n".join(lines)


def retrieval_explorer(answerer, question: str = "Are eyeglasses covered?", k: int | None = None):
    """An ipywidgets explorer over a RagAnswerer; prints a plain-text view of the default question as well."""
    first = explore(answerer, question, k)
    print(_explore_text(first))
    try:
        import ipywidgets as w
        from IPython.display import HTML, display
    except ImportError:
        return None
    box = w.Text(value=question, description="question", layout=w.Layout(width="95%"))
    depth = w.IntSlider(value=k or answerer.k, min=1, max=10, description="top k")
    answer_too = w.Checkbox(value=True, description="generate the answer")
    run = w.Button(description="Search", button_style="primary")
    out = w.Output()

    def on_run(_=None):
        out.clear_output()
        with out:
            try:
                result = explore(answerer, box.value, depth.value, answer_too.value)
            except Exception as exc:  # noqa: BLE001 - show the error in the widget, not a traceback
                print(f"The search failed: {type(exc).__name__}: {exc}")
                return
            rows = "".join(
                f"<tr><td>{h.rank}</td><td>{h.score:.3f}</td><td><code>{html.escape(', '.join(h.chunk.passages))}"
                f"</code></td><td style='text-align:left'>{highlight(h.chunk.text, box.value)}</td></tr>"
                for h in result["hits"])
            answer = result["answer"]
            said = (f"<p><b>answer</b>: {html.escape(answer.text)} · cited {answer.citations} · "
                    f"{answer.prompt_tokens} prompt tokens</p>") if answer else ""
            display(HTML(f"<p>filter: <code>{html.escape(str(result['where']))}</code></p>{said}"
                         f"<table><tr><th>#</th><th>score</th><th>passages</th><th>text</th></tr>{rows}</table>"
                         f"<details><summary>the prompt that is sent</summary><pre>{html.escape(result['prompt'])}"
                         f"</pre></details>"))

    run.on_click(on_run)
    box.on_submit(on_run) if hasattr(box, "on_submit") else None
    return w.VBox([box, w.HBox([depth, answer_too, run]), out])
