"""The automation sensor: evaluates the assets' automation conditions (profiles follow their raw table eagerly, stream
joins follow their topics), on by default so that eager assets fire without a trip to the UI."""

from __future__ import annotations

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus

from etl_assets.config.models import DataSources

AUTOMATION_SENSOR = "automation"


def build_automation_sensor(datasources: DataSources) -> AutomationConditionSensorDefinition:
    status = DefaultSensorStatus.RUNNING if datasources.automation else DefaultSensorStatus.STOPPED
    return AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR, target=AssetSelection.all(), default_status=status, minimum_interval_seconds=30,
        description="Requests the runs that the assets' automation conditions ask for (datasources.yaml "
                    "`automation: false` leaves it stopped).")
