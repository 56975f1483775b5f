"""The project's CLI: validation, and natural-language pipelines through an OpenAI-compatible endpoint."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.llm_stub import chat_stub
from tests.support.pipelines import PROPOSED_MODEL

PROJECT = Path(__file__).resolve().parents[2]


def aietl(*args: str, **env: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "aietl"), *args]
    return subprocess.run(command, cwd=PROJECT, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def llm_endpoint():
    with chat_stub(PROPOSED_MODEL) as stub:
        yield stub.url


def test_validate_checks_the_config_and_catalog():
    result = aietl("validate")
    assert result.returncode == 0, result.stderr
    assert "valid; 6 tables in the catalog" in result.stdout


def test_an_invalid_config_is_one_clear_line(tmp_path):
    broken = tmp_path / "datasources.yaml"
    broken.write_text("warehouse: w\nmetadata: w\ntargets: {postgres: {w: {database: d, port: many}}}\n")
    result = aietl("validate", AIETL_DATASOURCES=str(broken))
    assert result.returncode == 1
    assert f"{broken}: targets.postgres.w.port: Input should be a valid integer" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_an_llm_endpoint_the_request_is_refused_clearly():
    result = aietl("propose-pipeline", "revenue per city", AIETL_LLM_BASE_URL="")
    assert result.returncode == 1
    assert "none is configured" in result.stderr


def test_a_request_in_plain_words_becomes_a_checked_model(llm_endpoint):
    result = aietl("propose-pipeline", "revenue per city", AIETL_LLM_BASE_URL=llm_endpoint,
                   AIETL_LLM_API_KEY="test-key")
    assert result.returncode == 0, result.stderr
    assert "revenue_per_city:" in result.stdout
    assert "test-key" not in result.stdout + result.stderr
