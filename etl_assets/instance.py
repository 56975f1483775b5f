"""The Dagster instance of the embedded default: DAGSTER_HOME under the state directory, config from dagster.yaml."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from etl_assets.paths import PROJECT_DIR, state_dir


def prepare_dagster_home() -> Path:
    """Use the user's DAGSTER_HOME when set; otherwise one under the state directory with the project's dagster.yaml."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    home = state_dir() / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_DIR / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home
