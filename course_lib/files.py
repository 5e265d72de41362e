"""Writing files so that a reader never sees half of one: a temporary file beside the target, renamed into place.

An interrupted run (a kernel restart, Ctrl-C, a full disk) then leaves the old file or none, never a broken one
that a later run would load. Used for caches (adapters, indexes, converted weights) and generated files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; when the block ends without an error it is renamed to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` all at once."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def replace_folder(built: str | Path, out: str | Path) -> Path:
    """Move a finished folder `built` to `out`; the previous `out` stays until the new one is in place."""
    built, out = Path(built), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, old)
    os.replace(built, out)
    shutil.rmtree(old, ignore_errors=True)
    return out
