"""The dbt project as Dagster sees it, in a module of its own so that preparing it imports nothing else.

``target/manifest.json`` is built by ``prepare()`` (``aietl generate-dbt``) at install/build time, never at import.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from etl_assets.paths import DBT_PROJECT_DIR

DEFAULT_TARGET = "postgres"


def dbt_executable() -> str:
    """The dbt beside this interpreter (the virtualenv may not be on PATH), else whatever PATH finds."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


def dbt_target() -> str:
    return os.environ.get("AIETL_DBT_TARGET", DEFAULT_TARGET)


DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target=dbt_target())


def dbt_resource(project_dir: Path | None = None, target: str | None = None) -> DbtCliResource:
    """The ``dbt`` resource: this project (or a copy at ``project_dir``) on ``target`` (postgres or clickhouse)."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    directory = str(project_dir or DBT_PROJECT_DIR)
    return DbtCliResource(project_dir=directory, profiles_dir=directory, target=target or dbt_target(),
                          dbt_executable=dbt_executable())
