"""The schema model and the logical types every connector, layer and dialect share."""

from resources.schema.arrow import from_arrow, to_arrow
from resources.schema.model import Column, QuarantinedRecord, TableSchema
from resources.schema.types import (
    LOGICAL_TYPES,
    LogicalType,
    TypeMapper,
    parse_logical,
    widest_type,
)

__all__ = [
    "LOGICAL_TYPES", "Column", "LogicalType", "QuarantinedRecord", "TableSchema", "TypeMapper", "from_arrow",
    "parse_logical", "to_arrow", "widest_type",
]
