"""`aietl sync`: land one source's tables and rematerialize everything downstream of them, as one run of the job
``main`` on the persistent Dagster instance (so it shows in the UI beside the runs of sensors and schedules)."""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

from dagster import AssetKey, AssetSelection, DagsterEventType

from etl_assets.catalog import SourceTable
from etl_assets.config.models import DataSources
from etl_assets.config.suggest import did_you_mean
from etl_assets.demo import RunSummary, run_main_job
from etl_assets.keys import RAW, STREAM, asset_key
from etl_assets.progress import Progress
from etl_assets.raw.assets import FULL_RELOAD_TAG

STEP_EVENTS = {DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE, DagsterEventType.ENGINE_EVENT}


class SelectionError(ValueError):
    """A source or table name that is not configured; the message names the known ones."""


def unknown(kind: str, name: str, known: Sequence[str]) -> SelectionError:
    listed = ", ".join(sorted(known)) or "none"
    return SelectionError(f"unknown {kind} {name!r}{did_you_mean(name, known)} (known: {listed})")


def start_keys(datasources: DataSources, tables: list[SourceTable], source: str,
               only: Sequence[str] = ()) -> list[AssetKey]:
    """The raw (or, for Kafka, stream) assets of ``source``: its tables named in ``only``, or all of them."""
    configured = datasources.all_sources()
    if source not in configured:
        raise unknown("source", source, list(configured))
    kind, settings = configured[source]
    layer, names = (STREAM, list(settings.topics)) if kind == "kafka" else \
        (RAW, [t.name for t in tables if t.source == source])
    if not names:
        raise SelectionError(f"source {source!r} has no tables in the catalog; run `aietl discover --source {source}`")
    for name in only:
        if name not in names:
            raise unknown(f"table of {source}", name, names)
    partitioned = {t.name: t.partition.grain for t in tables if t.source == source and t.partition}
    wanted = list(only or names)
    refused = [name for name in wanted if name in partitioned]
    chosen = [name for name in wanted if name not in partitioned]
    if (only and refused) or not chosen:
        raise SelectionError(
            f"{', '.join(f'{source}.{name} ({partitioned[name]})' for name in refused)}: time-partitioned tables "
            "land by partition: backfill their periods from the Dagster UI, or let the incremental sensor request them")
    return [asset_key(layer, source, name) for name in chosen]


def downstream_of(keys: list[AssetKey]) -> list[AssetKey]:
    """``keys`` and every asset that depends on them, in the code location's graph."""
    from etl_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    return sorted(AssetSelection.assets(*keys).downstream().resolve(graph), key=AssetKey.to_user_string)


def run_sync(keys: list[AssetKey], full: bool, tracker: Progress) -> RunSummary:
    """Run ``keys`` through Dagster; ``tracker`` advances per finished step (from the run's own events), and each
    failure is one line with its reason (the stack traces stay in the run, in the UI)."""
    return run_main_job(None, asset_selection=keys, tags={FULL_RELOAD_TAG: "true"} if full else None,
                        log_level="CRITICAL", on_event=lambda event: _report(event, tracker))


def _report(event, tracker: Progress) -> None:
    if event.event_type not in STEP_EVENTS:
        return
    if event.event_type == DagsterEventType.ENGINE_EVENT:
        steps = event.engine_event_data.metadata.get("step_keys") if event.engine_event_data else None
        if steps is not None:
            tracker.set_total(len(ast.literal_eval(steps.value)))
        return
    if event.event_type == DagsterEventType.STEP_FAILURE:
        error = event.step_failure_data.error if event.step_failure_data else None
        tracker.note(f"step {event.step_key} failed: {_reason(error.message if error else '')}")
        tracker.advance(event.step_key, "FAILED")
    else:
        tracker.advance(event.step_key)


def _reason(message: str) -> str:
    """An error's message on one line: ``module.Class: text`` shortened to ``Class: text``, or to ``text`` for a
    ``Failure`` (its description already says what failed)."""
    text = " ".join(message.split())
    named = re.match(r"([\w.]+): (.*)", text)
    if named:
        name = named.group(1).rsplit(".", 1)[-1]
        text = named.group(2) if name == "Failure" else f"{name}: {named.group(2)}"
    return text[:400]


def summary_lines(summary: RunSummary) -> list[str]:
    landed = sum(written or 0 for key, (_, written) in summary.rows.items() if key.startswith(f"{RAW}/"))
    return [*summary.lines(),
            f"{len(summary.materialized)} assets materialized, {landed} rows landed, "
            f"{len(summary.failed_checks)} checks failed"]
