"""Load the benefits knowledge base and cut it into chunks. Taught in 02_rag.

    docs = load_documents()                          # 33 Markdown files with front matter
    chunks = chunk_by_section(docs, max_tokens=200)  # one chunk per `## Heading {#id}`, long ones split
    chunks = chunk_fixed(docs, size=120, overlap=30) # fixed windows of words, ignoring the headings

Every chunk remembers where it came from (`doc_id`, `plan`, `year`) and which sections it overlaps
(`passages`, as "doc_id#section"), so retrieval can be scored against the evaluation set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .datasets import BENEFITS, DataError
from .runtime.encoder import load_local_model

HEADING = re.compile(r"^## (?P<title>.+?)\s*\{#(?P<id>[a-z0-9-]+)\}\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Section:
    doc_id: str
    section_id: str
    heading: str
    text: str  # the body under the heading, without the heading line
    start: int  # character offsets of the body in Document.body
    end: int

    @property
    def passage_id(self) -> str:
        return f"{self.doc_id}#{self.section_id}"


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    plan: str
    year: int
    body: str  # Markdown after the front matter
    path: Path
    sections: tuple[Section, ...] = ()


@dataclass(frozen=True)
class Chunk:
    """A piece of a document that gets embedded and retrieved on its own."""

    chunk_id: str  # "doc_id:n"
    doc_id: str
    title: str
    plan: str
    year: int
    text: str  # what is embedded and shown to the model: title line + heading + content
    passages: tuple[str, ...] = field(default=())  # "doc_id#section" of every section the chunk overlaps

    @property
    def words(self) -> int:
        return len(self.text.split())


def parse_document(path: str | Path) -> Document:
    """One Markdown file with YAML front matter (doc_id, title, plan, year); errors name the file."""
    path = Path(path)
    raw = path.read_text(encoding="utf-8")
    if not raw.startswith("---\n") or "\n---\n" not in raw[4:]:
        raise DataError(f"{path}: no front matter; start the file with '---', the fields doc_id, title, plan "
                        "and year, then '---'.")
    head, body = raw[4:].split("\n---\n", 1)
    try:
        meta = yaml.safe_load(head) or {}
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: the front matter is not valid YAML ({exc}).") from None
    missing = [key for key in ("doc_id", "title", "plan", "year") if key not in meta]
    if missing:
        raise DataError(f"{path}: front matter lacks {', '.join(missing)}; add them.")
    sections = []
    matches = list(HEADING.finditer(body))
    for number, match in enumerate(matches):
        start = match.end() + 1
        end = matches[number + 1].start() if number + 1 < len(matches) else len(body)
        sections.append(Section(meta["doc_id"], match["id"], match["title"], body[start:end].strip(), start, end))
    return Document(meta["doc_id"], meta["title"], str(meta["plan"]), int(meta["year"]), body, path,
                    tuple(sections))


def load_documents(folder: str | Path | None = None) -> list[Document]:
    """Every *.md document in folder (default: the course's benefits knowledge base), sorted by doc_id."""
    folder = Path(folder) if folder else BENEFITS / "docs"
    paths = sorted(folder.glob("*.md"))
    if not paths:
        raise DataError(f"{folder} holds no .md documents; point load_documents() at the knowledge-base folder.")
    return sorted((parse_document(p) for p in paths), key=lambda d: d.doc_id)


def plain_heading(line: str) -> str:
    """'## Deductibles {#deductibles}' -> 'Deductibles' (the id is metadata, not text for the model)."""
    return re.sub(r"\s*\{#[a-z0-9-]+\}\s*$", "", line.removeprefix("## ").strip())


def _word_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def split_words(text: str, size: int, overlap: int) -> list[str]:
    """Windows of at most `size` words; each starts `size - overlap` words after the previous one.

    Nothing is lost: every word of the text is in at least one window, and the windows keep the text's own
    spacing and line breaks (tables stay tables).
    """
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"need size >= 1 and 0 <= overlap < size; got size={size}, overlap={overlap}.")
    spans = _word_spans(text)
    windows = []
    for first in range(0, max(len(spans), 1), size - overlap):
        part = spans[first:first + size]
        if not part:
            break
        windows.append(text[part[0][0]:part[-1][1]])
        if first + size >= len(spans):
            break
    return windows


def _sections_between(doc: Document, start: int, end: int) -> tuple[str, ...]:
    return tuple(s.passage_id for s in doc.sections if s.start - 1 < end and start < s.end) or (f"{doc.doc_id}#",)


def chunk_fixed(docs: list[Document], size: int = 120, overlap: int = 30) -> list[Chunk]:
    """Fixed windows of `size` words with `overlap` words shared, over each whole document body."""
    chunks = []
    for doc in docs:
        spans = _word_spans(doc.body)
        number = 0
        for first in range(0, len(spans), size - overlap):
            part = spans[first:first + size]
            start, end = part[0][0], part[-1][1]
            content = re.sub(r"\s*\{#[a-z0-9-]+\}", "", doc.body[start:end])
            chunks.append(Chunk(f"{doc.doc_id}:{number}", doc.doc_id, doc.title, doc.plan, doc.year,
                                f"{doc.title}\n{content}", _sections_between(doc, start, end)))
            number += 1
            if first + size >= len(spans):
                break
    return chunks


def count_tokens(text: str) -> int:
    """Word-piece tokens the bundled embedding model sees for text (it reads at most 256)."""

    return len(load_local_model().tokenizer(text, add_special_tokens=False).input_ids)


def chunk_by_section(docs: list[Document], max_tokens: int | None = 200, overlap: int = 20) -> list[Chunk]:
    """One chunk per `##` section, headed by the document title and the section heading.

    A section longer than `max_tokens` embedding tokens is split into word windows that fit, sharing `overlap`
    words, so the embedding model never silently cuts text off. max_tokens=None keeps whole sections.
    """
    chunks = []
    for doc in docs:
        number = 0
        for section in doc.sections:
            header = f"{doc.title}\n{section.heading}\n"
            pieces = [section.text]
            if max_tokens is not None and count_tokens(header + section.text) > max_tokens:
                size = max(20, max_tokens - count_tokens(header))
                # words are ~1.3 tokens each here; shrink the window until every piece fits
                words = int(size / 1.3)
                while True:
                    pieces = split_words(section.text, words, min(overlap, words // 2))
                    if all(count_tokens(header + p) <= max_tokens for p in pieces) or words <= 20:
                        break
                    words = int(words * 0.85)
            for piece in pieces:
                chunks.append(Chunk(f"{doc.doc_id}:{number}", doc.doc_id, doc.title, doc.plan, doc.year,
                                    header + piece, (section.passage_id,)))
                number += 1
    return chunks
