"""The errors the YDB connector raises besides SourceUnavailableError (which means: retry later)."""


class YdbConfigError(ValueError):
    """The YdbResource settings cannot work (e.g. static auth without a user)."""


class YdbQueryError(RuntimeError):
    """YDB refused a request for a reason retrying will not fix (bad query, missing table, no permission)."""
