"""Turn config/datasources.yaml into Dagster resources under the keys of docs/architecture.md.

Secrets are handed over as ``EnvVar`` so that the UI and logs show the variable's name, never its value.
"""

from __future__ import annotations

from typing import Any

from dagster import EnvVar, FilesystemIOManager

from etl_assets.config.models import (
    ClickHouseConnection,
    DataSources,
    EmbedderSettings,
    FilesSource,
    KafkaSource,
    PostgresConnection,
    PostgresSource,
    QdrantSettings,
    TableSettings,
    YdbSource,
)
from etl_assets.inputs import OPTIONAL_INPUT_KEY, stored_or_none
from etl_assets.keys import source_resource_key, target_resource_key
from etl_assets.paths import resolve
from etl_assets.transform.project import dbt_resource
from resources.clickhouse import ClickHouseResource
from resources.embedder import EmbedderResource
from resources.files import FilesResource, FileTable
from resources.kafka import KafkaResource
from resources.llm import LlmResource
from resources.metadata import MetadataResource
from resources.postgres import PostgresResource
from resources.qdrant import QdrantResource
from resources.search import SemanticSearchResource
from resources.ydb import YdbResource


def secret(env_name: str | None) -> Any:
    return EnvVar(env_name) if env_name else ""


def postgres_resource(settings: PostgresConnection, source_name: str = "") -> PostgresResource:
    schema_name = settings.schema_name if isinstance(settings, PostgresSource) else "public"
    return PostgresResource(
        host=settings.host, port=settings.port, database=settings.database, user=settings.user,
        password=secret(settings.password_env), sslmode=settings.sslmode,
        connect_timeout_s=settings.connect_timeout_s, schema_name=schema_name, source_name=source_name,
    )


def clickhouse_resource(settings: ClickHouseConnection, source_name: str = "") -> ClickHouseResource:
    return ClickHouseResource(
        url=settings.url, chdb_path=str(resolve(settings.chdb_path)) if settings.chdb_path else None,
        database=settings.database, user=settings.user, password=secret(settings.password_env),
        verify_tls=settings.verify_tls, ca_cert=settings.ca_cert, client_cert=settings.client_cert,
        client_key=settings.client_key, cluster=settings.cluster, connect_timeout_s=settings.connect_timeout_s,
        send_receive_timeout_s=settings.send_receive_timeout_s, source_name=source_name,
    )


def files_resource(settings: FilesSource, source_name: str) -> FilesResource:
    return FilesResource(
        path=str(resolve(settings.path)), source_name=source_name,
        tables={name: _file_table(table) for name, table in settings.tables.items() if table.file},
    )


def _file_table(table: TableSettings) -> FileTable:
    return FileTable(file=table.file, format=table.format, delimiter=table.delimiter, encoding=table.encoding,
                     header=table.header, record_path=table.record_path)


def ydb_resource(settings: YdbSource, source_name: str) -> YdbResource:
    return YdbResource(
        endpoint=settings.endpoint, database=settings.database, auth=settings.auth, user=settings.user,
        password=secret(settings.password_env), token=secret(settings.token_env),
        service_account_key_file=settings.service_account_key_file, timeout_s=settings.timeout_s,
        source_name=source_name,
    )


def kafka_resource(settings: KafkaSource, source_name: str) -> KafkaResource:
    return KafkaResource(
        bootstrap_servers=settings.bootstrap_servers, security_protocol=settings.security_protocol,
        sasl_mechanism=settings.sasl_mechanism, sasl_username=settings.sasl_username,
        sasl_password=secret(settings.sasl_password_env), ssl_cafile=settings.ssl_cafile,
        ssl_certfile=settings.ssl_certfile, ssl_keyfile=settings.ssl_keyfile,
        request_timeout_ms=settings.request_timeout_ms, client=settings.client, source_name=source_name,
    )


SOURCE_BUILDERS = {
    "files": files_resource,
    "postgres": postgres_resource,
    "clickhouse": clickhouse_resource,
    "ydb": ydb_resource,
    "kafka": kafka_resource,
}


def source_resource(kind: str, settings: Any, source_name: str) -> Any:
    return SOURCE_BUILDERS[kind](settings, source_name)


def llm_resource(datasources: DataSources) -> LlmResource:
    """The optional LLM endpoint; its key is only asked for when an endpoint is configured."""
    llm = datasources.llm
    api_key = secret(llm.api_key_env) if llm.base_url else ""
    return LlmResource(base_url=llm.base_url or "", model=llm.model, api_key=api_key, timeout_s=llm.timeout_s)


def embedder_resource(settings: EmbedderSettings) -> EmbedderResource:
    """The embedder as configured; the endpoint's key is only asked for when the ``openai`` model is chosen."""
    api_key = secret(settings.api_key_env) if settings.model == "openai" else ""
    return EmbedderResource(
        model=settings.model, dimensions=settings.dimensions, chunk_tokens=settings.chunk_tokens,
        chunk_overlap=settings.chunk_overlap, max_chunks=settings.max_chunks,
        model_file=str(resolve(settings.model_file)) if settings.model_file else "",
        base_url=settings.base_url or "", api_key=api_key, endpoint_model=settings.endpoint_model,
        timeout_s=settings.timeout_s,
    )


def qdrant_resource(settings: QdrantSettings) -> QdrantResource:
    return QdrantResource(url=settings.url, path=str(resolve(settings.path)) if settings.path else None,
                          api_key=secret(settings.api_key_env), timeout_s=settings.timeout_s)


def build_resources(datasources: DataSources) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for name, target in datasources.targets.postgres.items():
        resources[target_resource_key(name)] = postgres_resource(target)
    for name, target in datasources.targets.clickhouse.items():
        resources[target_resource_key(name)] = clickhouse_resource(target)
    resources["warehouse"] = resources[target_resource_key(datasources.warehouse)]
    resources["metadata"] = MetadataResource(postgres=resources[target_resource_key(datasources.metadata)])
    for name, (kind, settings) in datasources.all_sources().items():
        resources[source_resource_key(name)] = source_resource(kind, settings, name)
    resources["embedder"] = embedder_resource(datasources.embedder)
    resources["llm"] = llm_resource(datasources)
    resources["dbt"] = dbt_resource()
    resources[OPTIONAL_INPUT_KEY] = stored_or_none
    # Dagster's default IO manager, named: ``stored_or_none`` needs it, and a sensor tick resolves every top-level
    # resource's dependencies, so without it every sensor fails with "Resource with key 'io_manager' required".
    resources["io_manager"] = FilesystemIOManager()
    if datasources.qdrant:
        resources["qdrant"] = qdrant_resource(datasources.qdrant)
        resources["search"] = SemanticSearchResource(qdrant=resources["qdrant"], embedder=resources["embedder"])
    return resources
