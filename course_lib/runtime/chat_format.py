"""How chat messages become text for the base model: a plain "User: … / Assistant: …" transcript. Taught in 00_setup.

A base model has never seen a chat format's special tokens, but it has read plenty of dialogue, so the course
renders a conversation as a transcript and lets the model continue after "Assistant:". The engine gives llama.cpp
the same rendering as its chat template (`TRANSCRIPT_TEMPLATE`), and the trainer trains adapters on exactly this
text (`finetune.training`), so an adapter sees at training time what it will be asked at serving time.
"""

from __future__ import annotations

TRANSCRIPT_STOPS = ["\n\nUser:", "\nUser:"]  # the model starting the next turn ends its answer
_SPEAKERS = {"system": "", "user": "User: ", "assistant": "Assistant: "}  # other roles get "Role: "

# The transcript as a Jinja chat template, for llama.cpp's chat endpoint (tests/test_local_api.py checks that the
# server renders exactly what `render_chat` does).
TRANSCRIPT_TEMPLATE = (
    "{%- for m in messages -%}"
    "{%- if not loop.first %}{{ '\\n\\n' }}{% endif -%}"
    "{%- if m['role'] == 'user' -%}{{ 'User: ' }}{%- elif m['role'] == 'assistant' -%}{{ 'Assistant: ' }}"
    "{%- elif m['role'] != 'system' -%}{{ m['role'] | capitalize }}{{ ': ' }}{%- endif -%}"
    "{{ m['content'] | trim }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '\\n\\nAssistant:' }}{%- endif -%}"
)


def render_chat(messages: list[dict]) -> tuple[str, list[str]]:
    """Turn chat messages into (prompt text, stop strings) for the base model. Taught in 00_setup."""
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or not isinstance(m.get("content"), str):
            raise ValueError(f"messages[{i}] must be a dict with a 'role' and a string 'content'.")
    parts = [f"{_SPEAKERS.get(m['role'], m['role'].title() + ': ')}{m['content'].strip()}".rstrip() for m in messages]
    return "\n\n".join(parts) + "\n\nAssistant:", list(TRANSCRIPT_STOPS)


def cut_turn_start(text: str) -> str:
    """Drop a next turn that `max_tokens` cut before its stop string was complete ("negative\\n\\nUser")."""
    for stop in TRANSCRIPT_STOPS:
        for end in range(len(stop), 1, -1):
            if text.endswith(stop[:end]):
                return text[:-end].rstrip()
    return text


def last_user_message(messages: list[dict]) -> str:
    """The content of the last user turn of a conversation (the request an answer is for)."""
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")
