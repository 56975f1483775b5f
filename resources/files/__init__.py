"""The files connector: CSV, JSON/NDJSON and XML files of a directory as source tables."""

from resources.files.common import FileFormatError, MissingFileError
from resources.files.resource import FilesResource, FileTable

__all__ = ["FileFormatError", "FileTable", "FilesResource", "MissingFileError"]
