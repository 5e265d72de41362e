"""The converted-weights cache: written atomically, verified, rebuilt after a kill mid-conversion."""

import os
import shutil
import signal
import subprocess
import sys
import time

from conftest import ROOT, local_env

from course_lib.runtime.weights import CONVERTED_DIR_NAME, MANIFEST_NAME, ensure_converted_weights, verify_converted

CONVERT = ("from course_lib.runtime.weights import ensure_converted_weights; import sys; "
           "ensure_converted_weights(sys.argv[1])")


def test_kill_during_conversion_leaves_no_broken_cache(tmp_path):
    cache = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-c", CONVERT, str(cache)], cwd=ROOT, env=local_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(cache.glob(f"{CONVERTED_DIR_NAME}.tmp-*")):
        time.sleep(0.2)
    assert list(cache.glob(f"{CONVERTED_DIR_NAME}.tmp-*")), "the conversion never started"
    time.sleep(3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    target = cache / CONVERTED_DIR_NAME
    assert not target.exists(), "a killed conversion must not leave a cache that looks finished"

    # The next start cleans up the half-written folder and converts again, completely.
    done = subprocess.run([sys.executable, "-c", CONVERT, str(cache)], cwd=ROOT, env=local_env(),
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert verify_converted(target, full=True) is None
    assert not list(cache.glob(f"{CONVERTED_DIR_NAME}.tmp-*"))


def test_damaged_cache_is_detected(settings, tmp_path):
    ensure_converted_weights(settings.cache_dir)  # the shared cache that training uses
    copy = tmp_path / CONVERTED_DIR_NAME
    shutil.copytree(settings.cache_dir / CONVERTED_DIR_NAME, copy)
    assert verify_converted(copy, full=True) is None
    weights = next(p for p in copy.iterdir() if p.suffix == ".safetensors")
    with open(weights, "r+b") as fh:
        fh.truncate(weights.stat().st_size // 2)
    assert "wrong size" in verify_converted(copy)
    (copy / MANIFEST_NAME).unlink()
    assert "never finished" in verify_converted(copy)


def test_a_conversion_reads_the_gguf_metadata_once(tmp_path):
    """transformers opens the GGUF three times while converting (tokenizer, config, weights); inside
    `_gguf_parsed_once` those share one reader, since reading the 262k-entry vocabulary takes about 30 s."""
    import gguf
    import numpy as np

    from course_lib.runtime.weights import _gguf_parsed_once

    path = tmp_path / "tiny.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("w", np.ones((2, 2), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    original = gguf.GGUFReader
    with _gguf_parsed_once():
        first = gguf.GGUFReader(path)
        assert gguf.GGUFReader(str(path)) is first and first.tensors[0].name == "w"
    assert gguf.GGUFReader is original
    assert gguf.GGUFReader(path) is not first


def test_the_gguf_is_checked_once_and_again_when_it_changes(tmp_path, monkeypatch):
    import pytest

    from course_lib.runtime.weights import LocalModelError, gguf_path

    monkeypatch.setenv("HOME", str(tmp_path))  # the package assembles its file under ~/.cache
    path = gguf_path()
    assert path.is_relative_to(tmp_path) and path.stat().st_size > 100_000_000
    stamp = path.with_name(path.name + ".verified")
    assert stamp.read_text().split()[0] == str(path.stat().st_size), "a checked file leaves a stamp of its size"
    assert gguf_path() == path
    with open(path, "r+b") as fh:  # damage one byte in the middle: the modification time moves, so it is checked
        fh.seek(path.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(LocalModelError, match="damaged.*Delete the file"):
        gguf_path()
