"""The YDB connector, over the official ``ydb`` SDK: ``resource.py`` (YdbResource), ``types.py`` (the YDB type
mapper and value conversion), ``sql.py`` (the YQL text), ``client.py`` (credentials, driver, session pool, error
wrapping), ``batches.py`` (result rows -> Arrow batches), ``errors.py``."""

from resources.ydb.errors import YdbConfigError, YdbQueryError
from resources.ydb.resource import YdbResource

__all__ = ["YdbConfigError", "YdbQueryError", "YdbResource"]
