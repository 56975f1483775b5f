"""Headless Chromium for the UI test: the Debian ``chromium`` package driven by ``playwright-core`` from npm.

The pinned playwright-core (``package.json`` + ``package-lock.json`` here) is installed with ``npm ci`` into this
directory's git-ignored ``node_modules`` on first use; it never downloads a browser. What cannot be installed
(not root and no sudo, no Node 20) makes the test skip, saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
WALK = HERE / "walk_ui.mjs"
NODE_MAJOR = 20
"""playwright-core 1.65 needs Node 20 or newer."""


def chromium() -> str:
    """The system Chromium, installed with apt-get when missing and the user may install packages."""
    found = shutil.which("chromium")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if sudo is None:
        pytest.skip("the browser test needs Debian's chromium: not installed, and not root and no sudo to install it"
                    " (apt-get install chromium)")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run([*sudo, *command], capture_output=True, text=True, timeout=900,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if done.returncode != 0:
            pytest.skip(f"the browser test needs Debian's chromium; `{' '.join(command)}` failed: "
                        f"{done.stderr.strip()[-500:]}")
    return shutil.which("chromium") or pytest.skip("apt-get installed chromium, but it is not on PATH")


def playwright() -> str:
    """The ``node`` that runs the walk, with the locked playwright-core installed next to the script."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip(f"the browser test needs Node {NODE_MAJOR}+ and npm on PATH to run playwright-core")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    if int(version.lstrip("v").split(".")[0] or 0) < NODE_MAJOR:
        pytest.skip(f"the browser test needs Node {NODE_MAJOR}+ for playwright-core; found {version}")
    if not (HERE / "node_modules" / "playwright-core" / "package.json").exists():
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=HERE,
                              capture_output=True, text=True, timeout=600,
                              env={**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"})
        assert done.returncode == 0, f"npm ci in {HERE} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
    return node


def walk_ui(plan: dict[str, Any], *, timeout_s: float = 900) -> dict[str, Any]:
    """Run ``walk_ui.mjs`` with ``plan``; what it saw, by step (``failed`` names the step that did not pass)."""
    node = playwright()
    plan = {"chromium": chromium(), **plan}
    done = subprocess.run([node, str(WALK), json.dumps(plan)], cwd=HERE, capture_output=True, text=True,
                          timeout=timeout_s)
    assert done.stdout.strip(), f"the browser walk printed nothing (exit {done.returncode}):\n{done.stderr[-4000:]}"
    return json.loads(done.stdout)
