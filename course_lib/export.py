"""`python -m course_lib export DIR`: the course's models for another engine (vLLM, llama.cpp's own llama-server).

    python -m course_lib export build/export

writes

    DIR/gemma-3-270m/                 the base model in Hugging Face format (config, safetensors, tokenizer with the
                                      course's chat template), made from the shipped GGUF by the trainer's conversion
    DIR/gemma-3-270m-q4_k_m.gguf      the shipped GGUF itself, for llama-server
    DIR/chat_template.jinja           the course's "User: / Assistant:" rendering, for either server
    DIR/adapters/<served name>/       every trained adapter in PEFT format (adapter_config.json, safetensors)
    DIR/adapters/<served name>.gguf   the same adapter as a GGUF LoRA, for llama-server
    DIR/README.md                     the command lines that serve these files under the names the notebooks use

An adapter is exported under the model name the lessons serve it as (`ft:gemma-3-270m:sql`, ...): the shipped
longer run, and the newest cached run of each adapter the lessons train (run the lessons, or `validate`, first).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .assistant import FT_COPY_MODEL, FT_RAG_MODEL, FT_SQL_MODEL
from .config import LOCAL_CHAT_MODEL, load_settings
from .finetune import LONGER_ADAPTER, TRAINING_RECORD
from .finetune.adapters import ADAPTERS_DIR
from .runtime.chat_format import TRANSCRIPT_TEMPLATE
from .runtime.lora_gguf import export_lora_gguf
from .runtime.weights import MANIFEST_NAME, ensure_converted_weights, gguf_path

LONGER_MODEL = "ft:gemma-3-270m:sql-longer"  # the name lesson 03 serves the shipped longer run under
SERVED = {  # the name a lesson gives train_or_reuse -> the model name the lessons serve that adapter under
    "lesson-03-sql": FT_SQL_MODEL,
    "lesson-03-sql-corrupted": "ft:gemma-3-270m:sql-corrupted",
    "lesson-04-brand-voice": FT_COPY_MODEL,
    "lesson-04-grounded": FT_RAG_MODEL,
}
BASE_DIR = LOCAL_CHAT_MODEL  # folder of the Hugging Face base model inside the export
GGUF_NAME = f"{LOCAL_CHAT_MODEL}-q4_k_m.gguf"
ROOM_SLOTS = 8  # parallel sequences in the llama-server command (as `course_lib serve` uses)


def folder_name(served: str) -> str:
    """A file name for a served model name: 'ft:gemma-3-270m:sql' -> 'ft-gemma-3-270m-sql'."""
    return served.replace(":", "-")


def trained_adapters(cache_dir: Path) -> dict[str, Path]:
    """{served name: adapter folder}: the shipped longer run, and the newest cached run of each lesson adapter."""
    found = {LONGER_MODEL: LONGER_ADAPTER}
    cached = sorted((cache_dir / ADAPTERS_DIR).glob("*/" + TRAINING_RECORD), key=lambda p: p.stat().st_mtime)
    for record in cached:  # oldest first, so the newest run of a name wins
        name = record.parent.name.rsplit("-", 1)[0]  # "<name>-<hash of data, config and code>"
        if name in SERVED:
            found[SERVED[name]] = record.parent
    return found


def export_base(out: Path, cache_dir: Path) -> Path:
    """The base model as transformers saves it, with the course's chat template in its tokenizer config."""
    source = ensure_converted_weights(cache_dir)
    target = out / BASE_DIR
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(MANIFEST_NAME), dirs_exist_ok=True)
    config_file = target / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["chat_template"] = TRANSCRIPT_TEMPLATE  # transformers' apply_chat_template and vLLM render as the course
    config_file.write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    return target


def export_adapter(served: str, folder: Path, out: Path) -> tuple[Path, Path]:
    """One adapter in PEFT format (pointing at the exported base) and as a GGUF LoRA."""
    target = out / "adapters" / folder_name(served)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(folder / "adapter_model.safetensors", target / "adapter_model.safetensors")
    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = f"../../{BASE_DIR}"  # the exported base, wherever DIR is moved
    (target / "adapter_config.json").write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    gguf_file = export_lora_gguf(folder, out / "adapters" / f"{folder_name(served)}.gguf")
    return target, gguf_file


def commands(adapters: list[str], port: int = 8000) -> dict[str, str]:
    """The command lines that serve an export folder (run from inside it)."""
    loras = " ".join(f"--lora adapters/{folder_name(name)}.gguf" for name in adapters)
    modules = " ".join(f"{name}=adapters/{folder_name(name)}" for name in adapters)
    return {
        "llama-server": (f"llama-server -m {GGUF_NAME} --alias {LOCAL_CHAT_MODEL} {loras} --lora-init-without-apply "
                         f"-np {ROOM_SLOTS} -c {ROOM_SLOTS * 4096} --swa-full --flash-attn off --cache-ram 0 "
                         f"--chat-template-file chat_template.jinja "
                         f"--host 0.0.0.0 --port {port}"),
        "vllm": (f"vllm serve ./{BASE_DIR} --served-model-name {LOCAL_CHAT_MODEL} --chat-template chat_template.jinja "
                 f"--enable-lora --max-lora-rank 16 --max-loras {max(1, len(adapters))} --lora-modules {modules} "
                 f"--host 0.0.0.0 --port {port}"),
    }


README = """# The course's models, exported

Made by `python -m course_lib export`. Serve them for a room with one of the commands below, run from this
folder, then point every learner at the server (README of the course: provider `compatible`):

    COURSE_PROVIDER=compatible
    OPENAI_BASE_URL=http://<server>:{port}/v1
    COURSE_MODEL={base}

| file | what it is |
|---|---|
| `{base_dir}/` | the base model (Gemma 3 270M) in Hugging Face format, bf16, de-quantized from the shipped GGUF |
| `{gguf}` | the shipped 4-bit GGUF that the course's own engine runs |
| `chat_template.jinja` | the course's chat rendering ("User: ... / Assistant:"), which the lessons' prompts assume |
{adapter_rows}

## vLLM (a GPU host): every adapter under its own model name

    {vllm}

Untested here: vLLM needs a GPU, which the course's machines do not have. The notebooks ask for the model names
above, so a room's learners get the base model and each adapter by name, as on the course's own server.

## llama.cpp's llama-server: the base model; adapters by request

    {llama_server}

The flags are the ones the course's engine runs llama.cpp with: a full sliding-window cache so prompts can be reused
(`--swa-full`), flash attention off so a cached prompt answers as a fresh one, and no host-memory prompt cache, which
can hand one adapter's cached tokens to a request for another. llama-server serves one model name; it loads every
adapter at scale 0 and applies the ones a request names in its
`lora` field (`[{{"id": 0, "scale": 1.0}}]`, ids in the order of the `--lora` flags: {lora_ids}). The notebooks ask for
adapters by model name, so for the lessons' fine-tuned models use vLLM or `python -m course_lib serve --adapter
NAME=FOLDER`, which runs the same llama.cpp with this bookkeeping done.
"""


def export(out: str | Path, say=print) -> Path:
    """Write the export folder (see the module docstring); returns it."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache_dir = load_settings().cache_dir
    export_base(out, cache_dir)
    say(f"wrote {BASE_DIR}/ (Hugging Face format)")
    shutil.copy2(gguf_path(), out / GGUF_NAME)
    (out / "chat_template.jinja").write_text(TRANSCRIPT_TEMPLATE + "\n", encoding="utf-8")
    adapters = trained_adapters(cache_dir)
    for served, folder in adapters.items():
        export_adapter(served, folder, out)
        say(f"wrote adapters/{folder_name(served)}/ and .gguf ({served}, from {folder})")
    lines = commands(list(adapters))
    rows = "\n".join(f"| `adapters/{folder_name(n)}/`, `.gguf` | the adapter served as `{n}` |" for n in adapters)
    (out / "README.md").write_text(README.format(
        port=8000, base=LOCAL_CHAT_MODEL, base_dir=BASE_DIR, gguf=GGUF_NAME, adapter_rows=rows,
        vllm=lines["vllm"], llama_server=lines["llama-server"],
        lora_ids=", ".join(f"{i} = {n}" for i, n in enumerate(adapters))), encoding="utf-8")
    say(f"wrote README.md with the serving commands; {len(adapters)} adapters")
    return out
