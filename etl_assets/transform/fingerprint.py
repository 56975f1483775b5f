"""Which config a dbt manifest was built for: a hash of pipelines.yaml, the catalog facts the generator reads and
the generator's version, written next to ``target/manifest.json`` by ``aietl generate-dbt``.

The code location compares it at load (a file read and a hash, no dbt) and loads no dbt models from a manifest
built for another config; ``aietl discover``/``validate`` and ``aietl demo``/``ui`` compare it too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from etl_assets.catalog import SourceTable

GENERATOR_VERSION = 1
"""Bump when the generator writes different models from the same config."""
FINGERPRINT_FILE = "aietl_fingerprint.json"
STALE_HINT = "run `aietl generate-dbt` (make demo and make ui do it)"


def config_fingerprint(pipelines_file: Path, tables: Sequence[SourceTable]) -> str:
    """sha256 over pipelines.yaml's bytes (none when missing), each table's columns, types, descriptions and
    primary key (what sources.yml and the staging models are made of) and :data:`GENERATOR_VERSION`."""
    pipelines = pipelines_file.read_bytes() if pipelines_file.is_file() else b""
    catalog = sorted(
        [t.source, t.name, list(t.schema.primary_key),
         [[c.name, c.logical_type, c.description] for c in t.schema.columns]]
        for t in tables
    )
    digest = hashlib.sha256()
    digest.update(f"generator {GENERATOR_VERSION}\n".encode())
    digest.update(hashlib.sha256(pipelines).digest())
    digest.update(json.dumps(catalog, sort_keys=True).encode())
    return digest.hexdigest()


def fingerprint_path(manifest_path: Path) -> Path:
    return manifest_path.parent / FINGERPRINT_FILE


def write_fingerprint(manifest_path: Path, fingerprint: str, pipelines_file: Path) -> Path:
    path = fingerprint_path(manifest_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"fingerprint": fingerprint, "pipelines_file": str(pipelines_file),
                                "generator_version": GENERATOR_VERSION}, indent=2) + "\n", encoding="utf-8")
    return path


def recorded_fingerprint(manifest_path: Path) -> str | None:
    """The fingerprint written with the manifest; None when there is none or it cannot be read."""
    try:
        return json.loads(fingerprint_path(manifest_path).read_text(encoding="utf-8"))["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class ManifestState:
    manifest_path: Path
    exists: bool
    current: bool

    @property
    def stale(self) -> bool:
        return self.exists and not self.current

    def warning(self) -> str | None:
        """One line for the user, or None when the manifest matches the config."""
        if not self.exists:
            return f"dbt manifest {self.manifest_path} is missing: {STALE_HINT}"
        if not self.current:
            return f"dbt manifest is stale for pipelines.yaml/catalog: {STALE_HINT}"
        return None


def manifest_state(manifest_path: Path, pipelines_file: Path, tables: Sequence[SourceTable]) -> ManifestState:
    if not manifest_path.is_file():
        return ManifestState(manifest_path, exists=False, current=False)
    current = recorded_fingerprint(manifest_path) == config_fingerprint(pipelines_file, tables)
    return ManifestState(manifest_path, exists=True, current=current)


def configured_manifest_state(datasources_file: Path | None = None, catalog_file: Path | None = None,
                              pipelines_file: Path | None = None) -> ManifestState:
    """The project's manifest against the configured files (default: the ``AIETL_*`` paths)."""
    from etl_assets.catalog import load_catalog, source_tables
    from etl_assets.config.loader import load_datasources
    from etl_assets.paths import CATALOG_FILE, DATASOURCES_FILE, DBT_PROJECT_DIR, PIPELINES_FILE

    tables = source_tables(load_datasources(datasources_file or DATASOURCES_FILE),
                           load_catalog(catalog_file or CATALOG_FILE))
    return manifest_state(DBT_PROJECT_DIR / "target" / "manifest.json", pipelines_file or PIPELINES_FILE, tables)
