"""ClickHouse as a source and as a warehouse target: a server over HTTP(S) or the embedded chdb engine.

``resource.py`` is the Dagster resource, ``client.py`` its connections, ``types.py`` the type mapper, ``ddl.py``
the one builder of ClickHouse DDL (shared with the DDL layer), ``sql.py`` the statements the resource runs,
``discovery.py`` the reading of system tables and ``batches.py`` the Arrow conversions.
"""

from resources.clickhouse.client import ClickHouseQueryError
from resources.clickhouse.resource import ClickHouseResource
from resources.clickhouse.types import CLICKHOUSE, logical_type

__all__ = ["CLICKHOUSE", "ClickHouseQueryError", "ClickHouseResource", "logical_type"]
