"""``searchable``: the asset check of each ``embeddings/<source>/<table>`` asset. It searches the collection through
the ``search`` resource (:class:`resources.search.SemanticSearchResource`, as any op or check of a run can) with the
stored text of a few rows, and passes when nearly every such row is among its own top hits: a wrong model, a broken
collection or an index out of step with the points shows up here rather than in a user's search.
"""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    MetadataValue,
    asset_check,
)

from etl_assets.catalog import SourceTable
from etl_assets.keys import EMBEDDINGS, asset_key
from resources.qdrant import collection_name
from resources.search import CHUNK_FIELD, PK_FIELD, TEXT_FIELD, SemanticSearchResource

CHECK_NAME = "searchable"
PROBE_ROWS = 5
"""Rows whose own text is searched for."""
HITS = 5
PASS_SHARE = 0.8
"""Rows found among their own top ``HITS`` for the check to pass (rows repeating another's text may tie)."""


def searchable_check(table: SourceTable, pool: str) -> AssetChecksDefinition:
    collection = collection_name(table.source, table.name)

    @asset_check(
        asset=asset_key(EMBEDDINGS, table.source, table.name),
        name=CHECK_NAME,
        blocking=False,
        pool=pool,
        description=f"Searches Qdrant collection {collection!r} for the text of {PROBE_ROWS} of its rows; passes "
                    f"when at least {PASS_SHARE:.0%} of them are among their own top {HITS} hits.",
    )
    def searchable(search: SemanticSearchResource) -> AssetCheckResult:
        probes = probe_rows(search, collection)
        if probes is None:
            return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN, metadata={"probes": 0},
                                    description=f"Qdrant collection {collection!r} does not exist "
                                                f"({search.qdrant.location}): materialize the asset")
        if not probes:
            return AssetCheckResult(passed=True, description=f"{collection!r} has no points: nothing to search",
                                    metadata={"probes": 0})
        ranked = search.rows_each([text for _, text in probes], table.source, table.name, HITS)
        found = [pk in [hit.pk for hit in hits] for (pk, _), hits in zip(probes, ranked, strict=True)]
        misses = [pk for (pk, _), hit in zip(probes, found, strict=True) if not hit]
        share = sum(found) / len(found)
        return AssetCheckResult(
            passed=share >= PASS_SHARE,
            severity=AssetCheckSeverity.WARN,
            description=f"{sum(found)} of {len(found)} rows found by their own text among the top {HITS} hits",
            metadata={"probes": len(found), "found_share": MetadataValue.float(share),
                      "misses": MetadataValue.json(misses), "model": search.embedder.signature},
        )

    return searchable


def probe_rows(search: SemanticSearchResource, collection: str) -> list[tuple[dict, str]] | None:
    """(primary key, text of its first chunk) of up to ``PROBE_ROWS`` rows of the collection; None when the
    collection does not exist."""
    with search.qdrant.collection(collection) as points:
        if not points.exists():
            return None
        payloads = points.payloads(PROBE_ROWS, {CHUNK_FIELD: 0})
    return [(dict(payload[PK_FIELD]), str(payload[TEXT_FIELD])) for payload in payloads
            if str(payload.get(TEXT_FIELD, "")).strip()]
