"""The files connector: CSV, JSON/NDJSON and XML files of a directory as source tables.

``resource.py`` is the FilesResource. Files are read into Arrow, so the connector has no type mapper of its own
(the Arrow mapper, :mod:`resources.schema.arrow`, gives each logical type its Arrow type; ``cast.py`` infers logical
types from sampled values and casts to them), no SQL and no client; the rest are its formats and their helpers.
"""

from resources.files.common import FileFormatError, MissingFileError
from resources.files.resource import FilesResource, FileTable

__all__ = ["FileFormatError", "FileTable", "FilesResource", "MissingFileError"]
