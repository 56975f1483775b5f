from pathlib import Path

import pytest

from etl_assets.config.loader import ConfigError, load_datasources
from etl_assets.paths import DATASOURCES_FILE

MINIMAL = """
warehouse: wh
metadata: wh
targets:
  postgres:
    wh: {host: "${WH_HOST:localhost}", port: 5432, database: warehouse, password_env: WH_PASSWORD}
"""


def write(tmp_path: Path, text: str) -> Path:
    file = tmp_path / "datasources.yaml"
    file.write_text(text)
    return file


def test_the_bundled_config_is_valid():
    datasources = load_datasources(DATASOURCES_FILE)
    assert set(datasources.all_sources()) == {"shop_files", "shop_db", "analytics", "events"}
    assert datasources.sources.postgres["shop_db"].tables["orders"].sync.mode == "merge"


def test_interpolation_uses_the_environment_then_the_default(tmp_path, monkeypatch):
    file = write(tmp_path, MINIMAL)
    assert load_datasources(file).targets.postgres["wh"].host == "localhost"
    monkeypatch.setenv("WH_HOST", "db.internal")
    assert load_datasources(file).targets.postgres["wh"].host == "db.internal"


def test_a_secret_is_kept_as_the_name_of_its_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("WH_PASSWORD", "s3cret")
    target = load_datasources(write(tmp_path, MINIMAL)).targets.postgres["wh"]
    assert target.password_env == "WH_PASSWORD"
    assert "s3cret" not in target.model_dump_json()


@pytest.mark.parametrize(
    ("text", "key_path", "reason"),
    [
        (MINIMAL.replace("port: 5432", "port: many"), "targets.postgres.wh.port", "valid integer"),
        (MINIMAL.replace("${WH_HOST:localhost}", "${WH_HOST_UNSET_X}"), "targets.postgres.wh.host",
         "WH_HOST_UNSET_X is not set"),
        (MINIMAL.replace("warehouse: wh", "warehouse: nowhere"), "", "warehouse 'nowhere' is not a target"),
        (MINIMAL + "sources:\n  postgres:\n    s: {database: d, sync: {mode: merge}}\n",
         "sources.postgres.s.sync", "needs a cursor column"),
        (MINIMAL + "sources:\n  kafka:\n    k: {bootstrap_servers: b, topics: [t], colour: red}\n",
         "sources.kafka.k.colour", "Extra inputs are not permitted"),
        (MINIMAL + "sources:\n  clickhouse:\n    c: {database: d}\n", "sources.clickhouse.c", "exactly one of url"),
        ("warehouse: [unclosed\n", "line 2", "not valid YAML"),
    ],
)
def test_an_invalid_file_names_the_file_the_key_path_and_the_reason(tmp_path, text, key_path, reason):
    file = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_datasources(file)
    message = str(raised.value)
    assert message.startswith(str(file))
    assert key_path in message
    assert reason in message


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_datasources(tmp_path / "absent.yaml")


def test_source_names_must_be_unique_across_types(tmp_path):
    text = MINIMAL + ("sources:\n  files:\n    shop: {path: x}\n"
                      "  kafka:\n    shop: {bootstrap_servers: b, topics: [t]}\n")
    with pytest.raises(ConfigError, match="repeated: \\['shop'\\]"):
        load_datasources(write(tmp_path, text))
