"""Dagster conventions every layer follows: owners, code references and freshness policies.

Each value is built once and shared by every asset that has it (1,000 tables must not mean 1,000 copies of the same
object at load); kinds stay next to their decorators, where each layer names what it runs on.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import timedelta
from functools import cache
from types import FunctionType

import dagster as dg

from etl_assets.catalog import SourceTable
from etl_assets.config.models import DataSources

CODE_REFERENCES = "dagster/code_references"
MIN_WINDOW = timedelta(minutes=1)
"""Dagster's shortest freshness window."""


@cache
def code_reference(factory: FunctionType) -> dict[str, dg.CodeReferencesMetadataValue]:
    """Asset metadata pointing at the factory that builds the asset (the UI's "open in editor" link)."""
    code = factory.__code__
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # beta in Dagster 1.13: not worth a warning per layer
        reference = dg.LocalFileCodeReference(file_path=code.co_filename, line_number=code.co_firstlineno,
                                              label=f"{factory.__module__}.{factory.__qualname__}")
        return {CODE_REFERENCES: dg.CodeReferencesMetadataValue(code_references=[reference])}


def catalog_owners(tables: Sequence[SourceTable]) -> list[str]:
    """Owners of an asset built from every table (relationships, schema search, reports): all the tables' owners."""
    return sorted({owner for table in tables for owner in table.owners})


def source_owners(datasources: DataSources, source: str) -> list[str]:
    """Owners of a source's assets that belong to no catalog table (streams, CDC): the source's, else the top-level."""
    return list(datasources.all_sources()[source][1].owners or datasources.owners)


@cache
def freshness_policy(hours: float | None) -> dg.FreshnessPolicy | None:
    """The table's ``checks.freshness_hours`` as a Dagster freshness policy: fail after it, warn at three quarters."""
    if hours is None:
        return None
    fail = max(timedelta(hours=hours), MIN_WINDOW)
    warn = fail * 0.75
    return dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=warn if warn >= MIN_WINDOW else None)
