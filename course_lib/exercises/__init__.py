"""One module of auto-checked questions per lesson: `from course_lib.exercises.ex00_setup import *`."""

from __future__ import annotations

from ..config import load_settings
from ..llm import get_client


def configured_client():
    """The course client and chat model for the configured provider, as the checks use them."""

    settings = load_settings()
    return get_client(settings), settings.chat_model
