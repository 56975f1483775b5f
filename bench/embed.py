"""Embeddings: rows/s from a 20,000-row warehouse table into Qdrant local mode through the embeddings asset, against
the bare steps on the same texts in the same run (``encode()`` with the same model, then a plain upsert of those
vectors into an empty collection), and recall@5 of the golden set (tests/fixtures/search_golden.yaml).

``ratio_vs_encode`` = the asset's rows/s / the rows/s of the two bare steps together (the asset's own overhead;
the asset overlaps encoding with writing, so it may exceed 1). PostgreSQL: a database of its own on the server of
``AIETL_TEST_PG_DSN`` when set, else an embedded PostgreSQL started here. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
WORK = HERE / ".work"
UPSERT_BATCH = 256


def products_table():
    from etl_assets.catalog import load_catalog, source_tables
    from etl_assets.config.loader import load_datasources
    from etl_assets.paths import CATALOG_FILE, DATASOURCES_FILE

    tables = source_tables(load_datasources(DATASOURCES_FILE), load_catalog(CATALOG_FILE))
    return tables, next(t for t in tables if (t.source, t.name) == ("shop_files", "products"))


def synthetic_rows(count: int) -> list[dict]:
    """Varied product rows (so texts differ in length and words), from the sample's product kinds."""
    rng = random.Random(7)
    sample = json.loads((PROJECT / "data/sample/files/products.json").read_text())
    adjectives = ["compact", "durable", "premium", "budget", "eco-friendly", "heavy-duty", "travel", "family size"]
    rows = []
    for product_id in range(1, count + 1):
        base = rng.choice(sample)
        extra = " ".join(rng.sample(adjectives, rng.randint(1, 4)))
        rows.append({**base, "product_id": product_id, "sku": f"B-{product_id:06d}", "tags": json.dumps(base["tags"]),
                     "name": f"{base['name']} {extra}", "description": f"{base['description']} Model {extra}, "
                     f"batch {rng.randint(1, 999)}."})
    return rows


def table_asset(table):
    """The key of the table's embeddings asset (its search check is not part of the measurement)."""
    from etl_assets.keys import EMBEDDINGS, asset_key

    return asset_key(EMBEDDINGS, table.source, table.name)


def land(warehouse, table, rows: list[dict]) -> None:
    import pyarrow as pa

    from resources.protocol import WriteMode

    schema = table.schema.arrow_schema()
    batches = [pa.RecordBatch.from_pylist(rows[i:i + 5000], schema=schema) for i in range(0, len(rows), 5000)]
    warehouse.write(table.raw_namespace, table.schema, batches, WriteMode.REPLACE)


def run_asset(tables, table, warehouse, qdrant_path: Path, embedder) -> dict:
    from dagster import materialize

    from etl_assets.embeddings.assets import build_embedding_assets
    from resources.metadata import MetadataResource
    from resources.qdrant import QdrantResource

    assets = [a for a in build_embedding_assets([table]) if table_asset(table) in a.keys]
    result = materialize(assets, resources={"warehouse": warehouse, "metadata": MetadataResource(postgres=warehouse),
                                            "qdrant": QdrantResource(path=str(qdrant_path)), "embedder": embedder})
    [event] = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}


def bare_steps(table, rows: list[dict], qdrant_path: Path, embedder) -> tuple[float, float]:
    from qdrant_client import QdrantClient
    from qdrant_client import models as qm

    from etl_assets.embeddings.assets import text_columns
    from etl_assets.embeddings.rows import document_text

    columns = text_columns(table)
    texts = [document_text(row, columns, table.text_template) for row in rows]
    started = time.perf_counter()
    vectors = embedder.embed(texts)
    encode_s = time.perf_counter() - started
    client = QdrantClient(path=str(qdrant_path))
    try:
        client.create_collection("bare", vectors_config=qm.VectorParams(size=vectors.shape[1],
                                                                         distance=qm.Distance.COSINE))
        started = time.perf_counter()
        for start in range(0, len(rows), UPSERT_BATCH):
            client.upsert("bare", points=[qm.PointStruct(id=str(uuid.uuid4()), vector=vector.tolist(), payload=row)
                                          for row, vector in zip(rows[start:start + UPSERT_BATCH],
                                                                 vectors[start:start + UPSERT_BATCH])], wait=True)
        upsert_s = time.perf_counter() - started
    finally:
        client.close()
    return encode_s, upsert_s


def golden_recall(tables, warehouse, qdrant_path: Path, embedder) -> float:
    from dagster import materialize

    from etl_assets.embeddings.assets import build_embedding_assets
    from resources.files import FilesResource, FileTable
    from resources.metadata import MetadataResource
    from resources.protocol import WriteMode
    from resources.qdrant import QdrantResource
    from resources.search import SemanticSearchResource
    from tests.support.golden import product_recall

    table = next(t for t in tables if (t.source, t.name) == ("shop_files", "products"))
    files = FilesResource(path=str(PROJECT / "data/sample/files"), source_name="shop_files",
                          tables={"products": FileTable(file="products.json", format="json")})
    warehouse.write(table.raw_namespace, table.schema, files.read(table.schema), WriteMode.REPLACE)
    qdrant = QdrantResource(path=str(qdrant_path))
    assets = [a for a in build_embedding_assets([table]) if table_asset(table) in a.keys]
    materialize(assets, resources={"warehouse": warehouse, "metadata": MetadataResource(postgres=warehouse),
                                   "qdrant": qdrant, "embedder": embedder})
    return product_recall(SemanticSearchResource(qdrant=qdrant, embedder=embedder))[0]


def measure(dsn: str, rows_count: int, model: str, work: Path) -> dict:
    from resources.embedder import EmbedderResource
    from resources.postgres import PostgresResource

    tables, table = products_table()
    warehouse = PostgresResource.from_dsn(dsn)
    embedder = EmbedderResource(model=model)
    embedder.load()
    rows = synthetic_rows(rows_count)
    land(warehouse, table, rows)
    print(f"{rows_count:,} rows landed in {table.raw_namespace}.{table.name}; model {embedder.signature}", flush=True)

    started = time.perf_counter()
    metadata = run_asset(tables, table, warehouse, work / "asset", embedder)
    asset_s = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if metadata["rows_embedded"] != rows_count:
        raise SystemExit(f"the asset embedded {metadata['rows_embedded']} rows, expected {rows_count}")
    print(f"asset: {asset_s:.1f} s ({rows_count / asset_s:,.0f} rows/s), {metadata['points']} points", flush=True)

    encode_s, upsert_s = bare_steps(table, rows, work / "bare", embedder)
    print(f"bare encode: {encode_s:.1f} s, bare upsert: {upsert_s:.1f} s", flush=True)
    recall = golden_recall(tables, warehouse, work / "golden", embedder)
    hashing = golden_recall(tables, warehouse, work / "golden_hashing", EmbedderResource(model="hashing"))
    print(f"recall@5 on the golden set: {model} {recall:.3f}, hashing {hashing:.3f}", flush=True)
    return {"bench": "embed", "model": embedder.signature, "rows": rows_count,
            "rows_per_s": round(rows_count / asset_s, 1),
            "ratio_vs_encode": round((encode_s + upsert_s) / asset_s, 3),
            "encode_rows_per_s": round(rows_count / encode_s, 1), "upsert_rows_per_s": round(rows_count / upsert_s, 1),
            "recall_at_5": round(recall, 3), "recall_at_5_hashing": round(hashing, 3), "peak_mb": round(peak_mb)}


@contextmanager
def own_database(admin_dsn: str) -> Iterator[str]:
    """A database of its own on a shared server (a unique name, dropped at the end)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"bench_embed_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(**{**conninfo_to_dict(admin_dsn), "dbname": name})
    finally:
        with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--model", default="minilm", choices=["minilm", "hashing"])
    args = parser.parse_args()
    sys.path.insert(0, str(PROJECT))
    WORK.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="embed_", dir=WORK))
    try:
        dsn = os.environ.get("AIETL_TEST_PG_DSN")
        if dsn:
            with own_database(dsn) as bench_dsn:
                figures = measure(bench_dsn, args.rows, args.model, work)
        else:
            from resources.embedded import EmbeddedPostgres
            from resources.embedded.kafka import free_port

            server = EmbeddedPostgres(work / "pg", port=free_port()).start()
            try:
                server.create_database("bench")
                figures = measure(server.dsn("bench"), args.rows, args.model, work)
            finally:
                server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
