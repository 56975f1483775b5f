"""The config fingerprint recorded beside the dbt manifest: what changes it, what does not, and how it is read."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from etl_assets.transform import fingerprint
from etl_assets.transform.fingerprint import (
    config_fingerprint,
    fingerprint_path,
    manifest_state,
    write_fingerprint,
)
from resources.schema import Column
from tests.support.pipelines import PIPELINES, TABLES


def copy_pipelines(tmp_path: Path) -> Path:
    return Path(shutil.copy(PIPELINES, tmp_path / "pipelines.yaml"))


def with_column(table, column: Column):
    return dataclasses.replace(table, schema=dataclasses.replace(table.schema,
                                                                 columns=[*table.schema.columns, column]))


def test_same_config_same_fingerprint_whatever_the_table_order(tmp_path: Path) -> None:
    pipelines = copy_pipelines(tmp_path)
    assert config_fingerprint(pipelines, TABLES) == config_fingerprint(pipelines, list(reversed(TABLES)))
    assert config_fingerprint(pipelines, TABLES) == config_fingerprint(PIPELINES, TABLES), "the path is not hashed"


def test_pipelines_catalog_and_generator_version_each_change_it(tmp_path: Path, monkeypatch) -> None:
    pipelines = copy_pipelines(tmp_path)
    base = config_fingerprint(pipelines, TABLES)

    edited = tmp_path / "edited.yaml"
    edited.write_text(pipelines.read_text(encoding="utf-8") + "\n# a comment changes the file\n", encoding="utf-8")
    assert config_fingerprint(edited, TABLES) != base
    assert config_fingerprint(tmp_path / "missing.yaml", TABLES) != base
    assert config_fingerprint(pipelines, TABLES[1:]) != base
    assert config_fingerprint(pipelines, [with_column(TABLES[0], Column("added", "string")), *TABLES[1:]]) != base
    retyped = dataclasses.replace(TABLES[0].schema.columns[0], logical_type="binary")
    schema = dataclasses.replace(TABLES[0].schema, columns=[retyped, *TABLES[0].schema.columns[1:]])
    assert config_fingerprint(pipelines, [dataclasses.replace(TABLES[0], schema=schema), *TABLES[1:]]) != base

    monkeypatch.setattr(fingerprint, "GENERATOR_VERSION", fingerprint.GENERATOR_VERSION + 1)
    assert config_fingerprint(pipelines, TABLES) != base


def test_row_estimates_from_a_new_discover_do_not_make_it_stale(tmp_path: Path) -> None:
    pipelines = copy_pipelines(tmp_path)
    counted = [dataclasses.replace(t, schema=dataclasses.replace(t.schema, row_estimate=12345)) for t in TABLES]
    assert config_fingerprint(pipelines, counted) == config_fingerprint(pipelines, TABLES)


def test_manifest_state_missing_current_stale_and_unreadable(tmp_path: Path) -> None:
    pipelines = copy_pipelines(tmp_path)
    manifest = tmp_path / "target" / "manifest.json"

    missing = manifest_state(manifest, pipelines, TABLES)
    assert not missing.exists and not missing.stale and "is missing" in missing.warning()

    manifest.parent.mkdir()
    manifest.write_text("{}", encoding="utf-8")
    unknown = manifest_state(manifest, pipelines, TABLES)
    assert unknown.stale, "a manifest without a fingerprint is of an unknown config"

    write_fingerprint(manifest, config_fingerprint(pipelines, TABLES), pipelines)
    current = manifest_state(manifest, pipelines, TABLES)
    assert current.current and current.warning() is None

    other = manifest_state(manifest, tmp_path / "none.yaml", TABLES)
    assert other.stale
    assert other.warning() == ("dbt manifest is stale for pipelines.yaml/catalog: run `aietl generate-dbt` "
                               "(make demo and make ui do it)")

    fingerprint_path(manifest).write_text("not json", encoding="utf-8")
    assert manifest_state(manifest, pipelines, TABLES).stale
