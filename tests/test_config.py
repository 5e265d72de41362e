"""Settings: environment over .env, clear errors naming the setting, keys never shown."""

import pytest

from course_lib.config import ConfigError, check_settings, load_settings, mask

KEY = "sk-test-1234567890abcdefghijklmnop"


def test_default_is_local_offline():
    s = load_settings(env={})
    assert s.provider == "local" and s.is_local
    assert s.chat_model == "gemma-3-270m" and s.embedding_model == "all-MiniLM-L6-v2"
    check_settings(s)  # needs nothing


def test_env_file_is_read_and_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(f"COURSE_PROVIDER=openai\nOPENAI_API_KEY={KEY}\nCOURSE_MODEL=from-file\n")
    s = load_settings(env={"COURSE_MODEL": "from-env"}, env_file=env_file)
    assert s.provider == "openai" and s.openai_api_key == KEY and s.chat_model == "from-env"
    assert s.env_file == str(env_file)


def test_missing_env_file_names_it(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(env={}, env_file=tmp_path / "nope.env")


@pytest.mark.parametrize("env, fragment", [
    ({"COURSE_PROVIDER": "anthropic"}, "COURSE_PROVIDER='anthropic'"),
    ({"COURSE_MAX_CONCURRENCY": "0"}, "COURSE_MAX_CONCURRENCY"),
    ({"COURSE_MAX_RETRIES": "lots"}, "COURSE_MAX_RETRIES"),
    ({"COURSE_REQUEST_TIMEOUT": "soon"}, "COURSE_REQUEST_TIMEOUT"),
])
def test_bad_values_name_the_setting(env, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_settings(env=env)


@pytest.mark.parametrize("env, fragment", [
    ({"COURSE_PROVIDER": "openai"}, "OPENAI_API_KEY"),
    ({"COURSE_PROVIDER": "compatible"}, "OPENAI_BASE_URL"),
    ({"COURSE_PROVIDER": "compatible", "OPENAI_BASE_URL": "http://127.0.0.1:1/v1", "COURSE_MODEL": ""},
     "COURSE_MODEL"),
    ({"COURSE_PROVIDER": "azure", "AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com"}, "AZURE_OPENAI_API_KEY"),
])
def test_incomplete_provider_says_what_to_set(env, fragment):
    with pytest.raises(ConfigError, match=fragment):
        check_settings(load_settings(env=env))


def test_keys_never_appear_in_repr_or_describe():
    s = load_settings(env={"COURSE_PROVIDER": "openai", "OPENAI_API_KEY": KEY})
    for text in (repr(s), str(s), s.describe(), f"{s}"):
        assert KEY not in text and KEY[5:] not in text
    assert mask(KEY) == f"sk-…({len(KEY)} chars)"


def test_azure_reads_deployment_names():
    s = load_settings(env={"COURSE_PROVIDER": "azure", "AZURE_OPENAI_DEPLOYMENT": "gpt4o-mini-prod",
                           "AZURE_OPENAI_EMBEDDING_DEPLOYMENT": "embed-prod",
                           "AZURE_OPENAI_FINETUNED_DEPLOYMENT": "sql-ft",
                           "AZURE_OPENAI_COMPLETIONS_DEPLOYMENT": "instr"})
    assert s.chat_model == "gpt4o-mini-prod" and s.embedding_model == "embed-prod"
    assert s.finetuned_sql_model == "sql-ft" and s.completions_model == "instr"


def test_hosted_calls_are_bounded_and_retried():
    from course_lib.llm import completions_model

    s = load_settings(env={"COURSE_PROVIDER": "openai", "OPENAI_API_KEY": KEY, "COURSE_MAX_CONCURRENCY": "2"})
    assert s.max_concurrency == 2 and s.max_retries == 5
    assert completions_model(s) is None  # OpenAI's chat models refuse the completions endpoint
    assert completions_model(load_settings(env={})) == "gemma-3-270m"
