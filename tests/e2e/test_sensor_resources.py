"""Every sensor of the code location can resolve its resources, as the daemon does before each tick (a top-level
resource needing one that is not there made every tick of `make ui` fail)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_every_sensor_resolves_its_resources() -> None:
    from dagster._core.execution.resources_init import get_transitive_required_resource_keys

    from etl_assets.definitions import defs

    repository = defs.get_repository_def()
    resources = repository.get_top_level_resources()
    sensors = repository.sensor_defs
    assert len(sensors) >= 5
    for sensor in sensors:
        needed = get_transitive_required_resource_keys(sensor.required_resource_keys, resources)
        assert needed <= set(resources), sensor.name
