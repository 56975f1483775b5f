"""Running the project's CLI the way a user does: the venv's ``aietl`` in the clone, on a state directory of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
AIETL = Path(sys.executable).parent / "aietl"


def aietl_env(environment: dict[str, str]) -> dict[str, str]:
    """The process environment for ``environment`` (AIETL_HOME and ports); DAGSTER_HOME follows AIETL_HOME."""
    env = {**os.environ, **environment}
    env.pop("DAGSTER_HOME", None)
    return env


def aietl(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(AIETL), *args], cwd=PROJECT, env=aietl_env(environment), capture_output=True,
                          text=True, timeout=900)


def run_demo(environment: dict[str, str]) -> subprocess.CompletedProcess:
    return aietl(environment, "demo")
