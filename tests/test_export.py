"""`python -m course_lib export DIR` writes what vLLM and llama.cpp's llama-server need, and the exported base and
adapter answer as the course's engine does: loaded with transformers + peft, greedy, on 20 prompts."""

from __future__ import annotations

import json

import pytest

from course_lib.datasets import load_sql_pairs, per_template
from course_lib.export import BASE_DIR, GGUF_NAME, LONGER_MODEL, commands, export, folder_name
from course_lib.runtime.chat_format import render_chat

pytestmark = [pytest.mark.model, pytest.mark.train]

PROMPTS = 20
NEW_TOKENS = 12
# The engine runs the 4-bit GGUF with llama.cpp's kernels (activations rounded to 8 bits in each product); the export
# holds the same weights de-quantized to bf16, run by torch. Both are greedy, so the first tokens agree and a
# near-tie can tip the other way later: at least this many of the 20 answers must match token for token, and
# every answer must agree on its first 3 tokens.
SAME_ANSWERS = 14


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export(tmp_path_factory.mktemp("export"), say=lambda line: None)


def test_the_folder_holds_the_base_the_adapters_and_the_commands(exported):
    base = exported / BASE_DIR
    assert {"config.json", "tokenizer.json", "tokenizer_config.json"} <= {p.name for p in base.iterdir()}
    assert list(base.glob("*.safetensors"))
    assert (exported / GGUF_NAME).stat().st_size > 100_000_000
    adapter = exported / "adapters" / folder_name(LONGER_MODEL)
    assert (adapter / "adapter_model.safetensors").is_file() and adapter.with_suffix(".gguf").is_file()
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == f"../../{BASE_DIR}"
    readme = (exported / "README.md").read_text()
    for line in commands([LONGER_MODEL]).values():
        assert line.split(" --lora")[0].split(" --enable-lora")[0] in readme
    assert f"{LONGER_MODEL}=adapters/{folder_name(LONGER_MODEL)}" in readme


def test_the_exported_base_and_adapter_answer_as_the_engine_does(exported, client):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from course_lib.llm import local_engine

    items = per_template(load_sql_pairs("test"))[:PROMPTS]
    conversations = [item["messages"][:-1] for item in items]
    local_engine(client).register_adapter(LONGER_MODEL, exported / "adapters" / folder_name(LONGER_MODEL))

    tokenizer = AutoTokenizer.from_pretrained(exported / BASE_DIR)
    base = AutoModelForCausalLM.from_pretrained(exported / BASE_DIR, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, exported / "adapters" / folder_name(LONGER_MODEL)).eval()
    same, first_three = 0, 0
    for messages in conversations:
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert prompt == render_chat(messages)[0], "the exported chat template renders as the course does"
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=NEW_TOKENS, do_sample=False)
        theirs = out[0, ids.shape[1]:].tolist()
        reply = client.completions.create(model=LONGER_MODEL, prompt=prompt, max_tokens=NEW_TOKENS, temperature=0,
                                          extra_body={"ignore_eos": True})
        ours = tokenizer(reply.choices[0].text, add_special_tokens=False).input_ids[:NEW_TOKENS]
        theirs = theirs[:len(ours)]
        same += ours == theirs
        first_three += ours[:3] == theirs[:3]
    assert first_three == PROMPTS, f"{PROMPTS - first_three} answers differ in their first 3 tokens"
    assert same >= SAME_ANSWERS, f"only {same} of {PROMPTS} greedy answers match the engine's token for token"


def test_the_llama_server_command_serves_the_exported_files(exported, client):
    """llama-server's command line from the export's README, run through llama.cpp's own server code (xllamacpp,
    the package the course's engine uses): the exported GGUF, the adapter loaded at scale 0 and applied per request,
    the exported chat template. Its greedy answers are the course engine's."""
    import xllamacpp

    from course_lib.llm import local_engine

    local_engine(client).register_adapter(LONGER_MODEL, exported / "adapters" / folder_name(LONGER_MODEL))
    line = commands([LONGER_MODEL])["llama-server"].split()
    flag = {name: line[i + 1] for i, name in enumerate(line) if name.startswith("-") and i + 1 < len(line)}
    params = xllamacpp.CommonParams()
    params.model.path = str(exported / flag["-m"])
    params.lora_adapters = [xllamacpp.CommonAdapterLoraInfo(str(exported / flag["--lora"]), 0.0)]
    params.lora_init_without_apply = "--lora-init-without-apply" in line
    params.n_parallel, params.n_ctx = int(flag["-np"]), int(flag["-c"])
    params.swa_full = "--swa-full" in line
    if flag["--flash-attn"] == "off":
        params.flash_attn_type = xllamacpp.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_DISABLED
    params.cache_ram_mib = int(flag["--cache-ram"])
    params.chat_template = (exported / flag["--chat-template-file"]).read_text().strip()
    params.port, params.verbosity = 0, -1
    server = xllamacpp.Server(params)

    for item in per_template(load_sql_pairs("test"))[:5]:
        messages = item["messages"][:-1]
        request = {"messages": messages, "max_tokens": NEW_TOKENS, "temperature": 0, "stop": ["\n"]}
        theirs = server.handle_chat_completions({**request, "lora": [{"id": 0, "scale": 1.0}]})
        ours = client.chat.completions.create(model=LONGER_MODEL, **request)
        assert theirs["choices"][0]["message"]["content"].strip() == ours.choices[0].message.content.strip()
