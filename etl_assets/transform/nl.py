"""A natural-language request -> one pipelines.yaml model, through the optional OpenAI-compatible endpoint.

The model's answer is only a proposal: it is parsed and validated against the catalog exactly like a hand-written
model, so a hallucinated column fails with the same clear message. Without an endpoint, a clear error says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from etl_assets.catalog import SourceTable
from etl_assets.config.loader import ConfigError
from etl_assets.transform.spec.models import Model, PipelinesFile, parse_document
from etl_assets.transform.spec.resolver import resolve
from resources.llm import LlmResource, LlmUnavailable

NOT_CONFIGURED = ("natural-language pipelines need an LLM endpoint, and none is configured: set llm.base_url in "
                  "config/datasources.yaml (or AIETL_LLM_BASE_URL), or write the model in config/pipelines.yaml")
FENCE = re.compile(r"```(?:ya?ml)?\s*\n(.*?)```", re.DOTALL)
SPEC_HELP = (Path(__file__).resolve().parents[2] / "config" / "pipelines.yaml")


class NaturalLanguageError(ValueError):
    """The request could not become a valid model (no endpoint, no YAML in the answer, or an invalid spec)."""


@dataclass(frozen=True)
class Proposal:
    name: str
    model: Model
    yaml_text: str


def system_prompt(tables: list[SourceTable], existing: PipelinesFile) -> str:
    catalog = "\n".join(f"- {t.source}.{t.name}: " + ", ".join(f"{c.name} {c.logical_type}" for c in t.schema.columns)
                        for t in tables)
    models = ", ".join(existing.models) or "none"
    reference = SPEC_HELP.read_text(encoding="utf-8") if SPEC_HELP.is_file() else ""
    return ("You write one model of a pipelines.yaml transformation spec. Answer with YAML only, shaped as\n"
            "models:\n  <snake_case_name>:\n    <fields>\nand use only tables and columns that exist.\n\n"
            f"Catalog tables:\n{catalog}\n\nExisting models (usable as tables): {models}\n\n"
            f"The format, with examples:\n{reference}")


def propose(request: str, tables: list[SourceTable], llm: LlmResource,
            existing: PipelinesFile | None = None) -> Proposal:
    """Ask the endpoint for a model answering ``request`` and validate it together with the existing models."""
    if not llm.configured:
        raise NaturalLanguageError(NOT_CONFIGURED)
    existing = existing or PipelinesFile()
    try:
        answer = llm.complete(system_prompt(tables, existing), request)
    except LlmUnavailable as error:
        raise NaturalLanguageError(f"the LLM endpoint did not answer: {error}") from None
    document = _yaml(answer)
    try:
        proposed = parse_document(document, "LLM proposal")
    except ConfigError as error:
        raise NaturalLanguageError(f"the proposed model is not valid: {error}") from None
    if len(proposed.models) != 1:
        raise NaturalLanguageError(f"expected exactly one model in the answer, got {len(proposed.models)}")
    (name, model), = proposed.models.items()
    merged = PipelinesFile(models={**existing.models, name: model})
    try:
        resolve(merged, tables, "LLM proposal")
    except ConfigError as error:
        raise NaturalLanguageError(f"the proposed model does not fit the catalog:\n{error}") from None
    text = yaml.safe_dump({name: model.model_dump(by_alias=True, exclude_defaults=True)}, sort_keys=False)
    return Proposal(name, model, text)


def _yaml(answer: str) -> dict:
    fenced = FENCE.search(answer)
    try:
        document = yaml.safe_load(fenced.group(1) if fenced else answer)
    except yaml.YAMLError as error:
        raise NaturalLanguageError(f"the LLM answer is not YAML: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("models"), dict):
        raise NaturalLanguageError("the LLM answer has no 'models:' mapping")
    return document
