"""config/pipelines.yaml: the declarative transformation spec, and its validation against the catalog.

A model reads one table (``source.table`` of the catalog, or another model's name), joins others, filters rows,
optionally groups them, then adds window columns and derived columns, in that order:

    base      SELECT columns | group keys + aggregations  FROM ... JOIN ... WHERE ... GROUP BY ... HAVING ...
    windows   base.* + window functions over base's output names
    derive    everything so far + expressions over those names

- ``models``: the pydantic models of the file, checked for shape alone;
- ``expressions``: the portable expression language of ``expr`` fields;
- ``resolved``: what validation produces (relations, resolved models) and the names each step may use;
- ``resolver``: the validation itself, which resolves every column against the catalog (and other models' outputs)
  before any SQL is generated, so a typo fails with the model, the field path and the columns that do exist, not
  with a database error inside dbt.
"""

from etl_assets.transform.spec.models import Model, PipelinesFile, parse_document
from etl_assets.transform.spec.resolved import Pipelines, Relation, ResolvedModel
from etl_assets.transform.spec.resolver import PipelineSpecError, load_pipelines, resolve

__all__ = [
    "Model", "PipelineSpecError", "Pipelines", "PipelinesFile", "Relation", "ResolvedModel", "load_pipelines",
    "parse_document", "resolve",
]
