"""The secret variables a config names and needs, found before anything connects."""

from etl_assets.config.models import DataSources
from etl_assets.config.secrets import missing_secrets

SERVER = {"host": "127.0.0.1", "port": 9, "database": "w", "user": "u", "password_env": "T_SECRET_PG"}


def config(**top: object) -> DataSources:
    return DataSources.model_validate({
        "warehouse": "w", "metadata": "w", "targets": {"postgres": {"w": SERVER}},
        "sources": {"postgres": {"shop": {**SERVER, "password_env": "T_SECRET_SHOP"}},
                    "kafka": {"events": {"bootstrap_servers": "127.0.0.1:9", "topics": ["t"],
                                         "sasl_password_env": "T_SECRET_SASL"}}},
        "embedder": {"model": "hashing", "api_key_env": "T_SECRET_EMBEDDINGS"},
        "llm": {"api_key_env": "T_SECRET_LLM"}, **top})


def test_every_named_secret_of_targets_and_sources_is_reported_with_its_key(monkeypatch):
    for name in ("T_SECRET_PG", "T_SECRET_SHOP", "T_SECRET_SASL", "T_SECRET_LLM", "T_SECRET_EMBEDDINGS"):
        monkeypatch.delenv(name, raising=False)
    assert missing_secrets(config()) == [("targets.postgres.w.password_env", "T_SECRET_PG"),
                                         ("sources.postgres.shop.password_env", "T_SECRET_SHOP"),
                                         ("sources.kafka.events.sasl_password_env", "T_SECRET_SASL")]
    monkeypatch.setenv("T_SECRET_PG", "")
    assert ("targets.postgres.w.password_env", "T_SECRET_PG") not in missing_secrets(config()), \
        "an empty value is set (a server without a password)"


def test_endpoint_keys_are_needed_only_when_their_endpoint_is_used(monkeypatch):
    monkeypatch.delenv("T_SECRET_LLM", raising=False)
    monkeypatch.delenv("T_SECRET_EMBEDDINGS", raising=False)
    with_endpoints = config(llm={"base_url": "http://127.0.0.1:9/v1", "api_key_env": "T_SECRET_LLM"},
                            embedder={"model": "openai", "base_url": "http://127.0.0.1:9/v1",
                                      "api_key_env": "T_SECRET_EMBEDDINGS"})
    assert missing_secrets(with_endpoints, ("embedder", "llm")) == [
        ("embedder.api_key_env", "T_SECRET_EMBEDDINGS"), ("llm.api_key_env (llm.base_url is set)", "T_SECRET_LLM")]
    assert missing_secrets(config(), ("embedder", "llm")) == []
