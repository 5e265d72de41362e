"""Interactive tools for notebooks, each with a plain-text fallback where widgets cannot render.

- `prompt_playground`: try a system and user message, few-shot examples on or off, temperature and max tokens;
  see the answer, its tokens, the latency and the exact prompt the model read. Taught in 01_prompt_engineering.
- `TrainingMonitor`: a training run's loss curves, step, tokens/s and time left, live. Taught in 03_fine_tuning.
- `retrieval_explorer`: type a question; see the top-k chunks with scores and the question's words highlighted,
  the grounded messages that would be sent, and the answer. Taught in 02_rag.
"""

from __future__ import annotations

import html
import re
import time

from .llm import local_engine
from .prompting import LABELS
from .rag import grounded_prompt, show_messages


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

    engine = local_engine(client)
    if engine is not None:
        rendered = engine.rendered_prompt(messages)  # exactly the text llama.cpp built from the messages
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

    k = k or answerer.k
    where = answerer.where(question) if callable(answerer.where) else answerer.where
    hits = answerer.retriever.search(question, k=k, where=where)
    result = {"question": question, "where": where, "hits": hits,
              "prompt": show_messages(grounded_prompt(question, hits, answerer.examples)), "answer": None}
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
    return w.VBox([box, w.HBox([depth, answer_too, run]), out])


# --------------------------------------------------------------------------------------------------------------
# Training monitor (03_fine_tuning)
# --------------------------------------------------------------------------------------------------------------

def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class TrainingMonitor:
    """Live view of a training run: loss curves (training and validation), step, tokens/s and time left.
    Taught in 03_fine_tuning.

    Pass it to `finetune.train_lora(..., monitor=TrainingMonitor())`. In Jupyter it shows a progress bar, a status
    line and a loss plot that redraws every `redraw_every` steps; elsewhere (or with `widgets=False`) it prints one
    plain line every `print_every` steps. Either way it ends with the final plot and a one-line summary.
    """

    def __init__(self, title: str = "LoRA training", redraw_every: int = 10, print_every: int = 10,
                 widgets: bool | None = None):
        self.title, self.redraw_every, self.print_every = title, redraw_every, print_every
        self.rows: list[dict] = []
        self.steps = 0
        self._box = None
        self._use_widgets = widgets

    # -- what the trainer calls ----------------------------------------------------------------------------
    def start(self, steps: int) -> None:
        self.steps, self.rows = steps, []
        if self._use_widgets is None:
            self._use_widgets = self._in_notebook()
        if self._use_widgets:
            import ipywidgets as w
            from IPython.display import display

            self._bar = w.IntProgress(value=0, min=0, max=steps, description="step")
            self._status = w.HTML(value=f"<b>{self.title}</b>: starting…")
            self._plot = w.Output()
            self._box = w.VBox([w.HBox([self._bar, self._status]), self._plot])
            display(self._box)
        else:
            print(f"{self.title}: {steps} steps", flush=True)

    def update(self, **row) -> None:
        self.rows.append(row)
        step = row["step"]
        if self._box is not None:
            self._bar.value = step
            self._status.value = f"<b>{self.title}</b>: {self.status_line()}"
            if step % self.redraw_every == 0 or row.get("val_loss") is not None:
                self._redraw()
        elif step % self.print_every == 0 or step == self.steps:
            print(self.status_line(), flush=True)

    def replay(self, history: list[dict], steps: int) -> None:
        """Show a finished run's recorded curve at once: what `train_or_reuse` does with an adapter from the cache."""
        self.title = f"{self.title} (recorded when trained; loaded from the cache)"
        self.start(steps)
        self.rows = list(history)
        if self._box is not None:
            self._bar.value = steps
        self.finish()

    def finish(self) -> None:
        if self._box is not None:
            self._status.value = f"<b>{self.title}</b>: done · {self.status_line()}"
            self._redraw()
        print(f"{self.title}: finished {self.status_line()}", flush=True)

    # -- what it shows ---------------------------------------------------------------------------------------
    def status_line(self) -> str:
        """'step 12/40 · loss 0.412 · val 0.530 · 1,234 tokens/s · 0:45 left'."""
        if not self.rows:
            return "no steps yet"
        first, last = self.rows[max(0, len(self.rows) - 11)], self.rows[-1]
        seconds = last.get("seconds", 0.0)
        rate = last.get("tokens", 0) / seconds if seconds else 0.0
        if last["step"] > first["step"]:  # time per step over the last ten steps
            per_step = (seconds - first.get("seconds", 0.0)) / (last["step"] - first["step"])
        else:
            per_step = seconds / max(1, last["step"])
        left = per_step * (self.steps - last["step"])
        val = [r["val_loss"] for r in self.rows if r.get("val_loss") is not None]
        val_text = f" · val {val[-1]:.3f}" if val else ""
        return (f"step {last['step']}/{self.steps} · loss {last['train_loss']:.3f}{val_text} · {rate:,.0f} tokens/s · "
                f"{_clock(left)} left")

    def figure(self):
        """The loss curves as a matplotlib figure (training loss per step, validation loss where measured)."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 2.8))
        steps = [r["step"] for r in self.rows]
        ax.plot(steps, [r["train_loss"] for r in self.rows], color="#90a4ae", lw=1, label="training (per batch)")
        val = [(r["step"], r["val_loss"]) for r in self.rows if r.get("val_loss") is not None]
        if val:
            ax.plot(*zip(*val, strict=True), "o-", color="#2e7d32", label="validation")
        ax.set_xlim(0, max(self.steps, 1))
        ax.set_xlabel("step")
        ax.set_ylabel("loss on answer tokens")
        ax.set_title(self.title)
        ax.legend(loc="upper right")
        fig.tight_layout()
        return fig

    def _redraw(self) -> None:
        import matplotlib.pyplot as plt
        from IPython.display import display

        fig = self.figure()
        with self._plot:
            self._plot.clear_output(wait=True)
            display(fig)
        plt.close(fig)

    @staticmethod
    def _in_notebook() -> bool:
        try:
            import ipywidgets  # noqa: F401
            from IPython import get_ipython

            shell = get_ipython()
            return shell is not None and "IPKernelApp" in shell.config
        except ImportError:
            return False
