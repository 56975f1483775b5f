"""A virtual environment of its own for a peer that cannot share the project's (made with uv on first use)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

INSTALL_TIMEOUT_S = 900


def uv_command() -> str | None:
    """uv from the project's environment (the dev group installs it), else from PATH."""
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.exists() else shutil.which("uv")


def peer_python(venv: Path, requirements: list[str], python: str) -> Path:
    """The interpreter of ``venv``, creating it with ``requirements`` first if needed; raises RuntimeError if it can't."""
    interpreter = venv / "bin" / "python"
    if interpreter.exists():
        return interpreter
    uv = uv_command()
    if not uv:
        raise RuntimeError("uv is not installed, so the peer's environment cannot be made")
    try:
        subprocess.run([uv, "venv", "-q", "--python", python, str(venv)], check=True, timeout=INSTALL_TIMEOUT_S)
        subprocess.run([uv, "pip", "install", "-q", "--compile-bytecode", "--python", str(interpreter),
                        *requirements], check=True, timeout=INSTALL_TIMEOUT_S)
    except (subprocess.SubprocessError, OSError) as error:
        shutil.rmtree(venv, ignore_errors=True)
        raise RuntimeError(f"installing {', '.join(requirements)} failed: {error}") from None
    return interpreter
