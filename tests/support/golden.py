"""The golden set of semantic search (tests/fixtures/search_golden.yaml) and recall@k over it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from resources.search import SemanticSearchResource

GOLDEN_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "search_golden.yaml"


def golden_set() -> dict[str, list[dict[str, Any]]]:
    return yaml.safe_load(GOLDEN_FILE.read_text(encoding="utf-8"))


def product_recall(search: SemanticSearchResource, k: int = 5) -> tuple[float, list[str]]:
    """Mean recall@k of the product queries over ``shop_files.products``, and the queries that missed any."""
    recalls, misses = [], []
    for case in golden_set()["products"]:
        found = {hit.pk["product_id"] for hit in search.rows(case["query"], "shop_files", "products", k)}
        recall = len(found & set(case["relevant"])) / len(case["relevant"])
        recalls.append(recall)
        if recall < 1:
            misses.append(case["query"])
    return sum(recalls) / len(recalls), misses


def schema_recall(search: SemanticSearchResource, k: int = 5) -> tuple[float, list[str]]:
    """Share of schema queries whose table (and column, when given) is among the first k schema hits."""
    found, misses = 0, []
    for case in golden_set()["schema"]:
        source, table = case["table"].split(".")
        hits = [(hit.pk.get("source"), hit.pk.get("table"), hit.pk.get("column"))
                for hit in search.schema(case["query"], k)]
        wanted = (source, table, case.get("column"))
        ok = wanted in hits if case.get("column") else any(hit[:2] == (source, table) for hit in hits)
        found += ok
        if not ok:
            misses.append(case["query"])
    return found / len(golden_set()["schema"]), misses
