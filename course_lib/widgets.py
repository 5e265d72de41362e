"""Interactive tools for notebooks, each with a plain-text fallback where widgets cannot render.

- `prompt_playground`: try a system and user message, few-shot examples on or off, temperature and max tokens;
  see the answer, its tokens, the latency and the exact prompt the model read. Taught in 01_prompt_engineering.
"""

from __future__ import annotations

import html
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
