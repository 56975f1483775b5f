"""The logical type vocabulary, parsed on sqlglot's DataType, and the Arrow mapper's round trip."""

from __future__ import annotations

import pyarrow as pa
import pytest

from resources.schema import LOGICAL_TYPES, parse_logical, to_arrow, widest_type
from resources.schema.arrow import ARROW
from resources.schema.types import LogicalType
from tests.support.types import assert_round_trips


@pytest.mark.parametrize("text", [name for name in LOGICAL_TYPES if name != "decimal"])
def test_every_simple_name_parses_to_itself(text: str) -> None:
    assert str(parse_logical(text)) == text


@pytest.mark.parametrize(("text", "precision", "scale"),
                         [("decimal(10,2)", 10, 2), ("decimal(10, 2)", 10, 2), ("decimal(38,0)", 38, 0)])
def test_decimals_parse_with_precision_and_scale(text: str, precision: int, scale: int) -> None:
    parsed = parse_logical(text)
    assert (parsed.name, parsed.precision, parsed.scale) == ("decimal", precision, scale)
    assert str(parsed) == f"decimal({precision},{scale})"
    assert LogicalType.from_data_type(parsed.data_type()) == parsed


@pytest.mark.parametrize("text", ["decimal", "int8", "varchar", "decimal(a,b)", ""])
def test_unknown_types_are_rejected_with_the_vocabulary(text: str) -> None:
    with pytest.raises(ValueError, match="expected one of"):
        parse_logical(text)


def test_arrow_round_trip() -> None:
    assert_round_trips(ARROW, widened={"json": "string", "uuid": "string"})
    assert to_arrow("decimal(12,3)") == pa.decimal128(12, 3)


def test_widest_type_of_decimals_and_integers() -> None:
    assert widest_type("int32", "int64") == "int64"
    assert widest_type("decimal(10,2)", "int32") is None
    assert widest_type("decimal(12,2)", "int32") == "decimal(12,2)"
    assert widest_type("decimal(10,2)", "decimal(12,4)") == "decimal(12,4)"
    assert widest_type("int64", "string") is None
