"""Reading config/catalog.json strictly: a missing, truncated or malformed catalog is an error naming the file, the
place in it and the fix, never a bare ``JSONDecodeError``/``KeyError`` or an empty catalog taken for valid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from etl_assets.config.loader import ConfigError
from resources.schema import TableSchema

REDISCOVER = "run `aietl discover` to write it again"


class CatalogFileError(ConfigError):
    def __init__(self, file: Path | str, key_path: str, reason: str, fix: str = REDISCOVER):
        self.fix = fix
        super().__init__(file, key_path, f"{reason}; fix: {fix}" if fix else reason)
        self.reason = reason


def read_catalog_file(file: Path) -> dict[str, list[TableSchema]]:
    """The catalog, source -> table schemas; raises :class:`CatalogFileError` for a missing or malformed file."""
    if not file.is_file():
        raise CatalogFileError(file, "", "the catalog file does not exist", "run `aietl discover` to create it")
    text = file.read_bytes().decode("utf-8", errors="replace")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        truncated = " (the file ends early: truncated?)" if error.pos >= len(text.rstrip()) else ""
        raise CatalogFileError(file, f"line {error.lineno}, column {error.colno}",
                               f"not valid JSON: {error.msg}{truncated}") from None
    except RecursionError:
        raise CatalogFileError(file, "", "not a catalog: nested too deeply") from None
    if not isinstance(document, dict) or not isinstance(document.get("sources"), dict):
        raise CatalogFileError(file, "sources", "expected an object with a `sources` mapping")
    return {source: _tables(file, source, tables) for source, tables in document["sources"].items()}


def _tables(file: Path, source: str, tables: Any) -> list[TableSchema]:
    if not isinstance(tables, list):
        raise CatalogFileError(file, f"sources.{source}", f"expected a list of tables, found {type(tables).__name__}")
    schemas = []
    for index, table in enumerate(tables):
        where = f"sources.{source}[{index}]"
        try:
            schemas.append(TableSchema.from_dict(table))
        except KeyError as error:
            raise CatalogFileError(file, where, f"a table without its {error.args[0]!r} key") from None
        except (TypeError, ValueError, AttributeError) as error:
            raise CatalogFileError(file, where, f"not a table schema: {error}") from None
        if schemas[-1].source != source:
            raise CatalogFileError(file, where, f"table {schemas[-1].name!r} says source {schemas[-1].source!r}")
    return schemas
