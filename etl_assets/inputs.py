"""The input manager of inputs that may not exist yet, provided as the resource ``stored_or_none`` by
``etl_assets.wiring`` (and by tests that build their own resources)."""

from typing import Any

import dagster as dg

OPTIONAL_INPUT_KEY = "stored_or_none"


@dg.input_manager(required_resource_keys={"io_manager"})
def stored_or_none(context: dg.InputContext) -> Any:
    """The upstream value as the run's IO manager stored it, or None when it was never materialized: a proof is
    optional to the analysis report (it notes "no proof yet"), and may not have run when the report is."""
    try:
        return context.resources.io_manager.load_input(context)
    except FileNotFoundError:
        return None
