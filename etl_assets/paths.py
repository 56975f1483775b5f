"""Where the project's files live. Everything the platform writes goes under one git-ignored state directory."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_DIR = Path(os.environ.get("AIETL_PROJECT_DIR", Path(__file__).resolve().parent.parent))
CONFIG_DIR = PROJECT_DIR / "config"
DATASOURCES_FILE = Path(os.environ.get("AIETL_DATASOURCES", CONFIG_DIR / "datasources.yaml"))
PIPELINES_FILE = Path(os.environ.get("AIETL_PIPELINES", CONFIG_DIR / "pipelines.yaml"))
CATALOG_FILE = Path(os.environ.get("AIETL_CATALOG", CONFIG_DIR / "catalog.json"))
DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"
SAMPLE_DIR = PROJECT_DIR / "data" / "sample"


def state_dir() -> Path:
    """The git-ignored directory for embedded services' data, reports and Dagster's home (``AIETL_HOME``)."""
    return Path(os.environ.get("AIETL_HOME", PROJECT_DIR / ".aietl")).resolve()


def reports_dir() -> Path:
    """Where the report assets write their files, unless a run's config names another directory."""
    return state_dir() / "reports"


def resolve(path: str | Path) -> Path:
    """A path from config, relative to the project directory unless absolute."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else (PROJECT_DIR / candidate).resolve()


def relationships_file() -> Path:
    """Keys and relationships found by the ``relationships/catalog`` asset, read offline by ``aietl generate-dbt``."""
    return state_dir() / "relationships.json"
