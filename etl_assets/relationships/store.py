"""``relationships.json`` under the state directory: what the ``relationships/catalog`` asset found, kept for
offline readers (``aietl generate-dbt``)."""

from __future__ import annotations

import json
from pathlib import Path

from etl_assets.paths import relationships_file
from etl_assets.relationships.model import Relationships


def write_relationships(found: Relationships, path: Path | None = None) -> Path:
    path = path or relationships_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(found.to_dict(), indent=1, default=str, ensure_ascii=False) + "\n",
                         encoding="utf-8")
    temporary.replace(path)
    return path


def read_relationships(path: Path | None = None) -> Relationships | None:
    """What the last run found, or None when the asset has not run here (or the file is unreadable)."""
    path = path or relationships_file()
    try:
        return Relationships.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
