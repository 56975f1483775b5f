"""Load config YAML files: ``${VAR}`` / ``${VAR:default}`` interpolation, then validation into typed models."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from etl_assets.config.models import DataSources

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")
Model = TypeVar("Model", bound=BaseModel)


class ConfigError(ValueError):
    """A config file is invalid; the message names the file, the key path and the reason."""

    def __init__(self, file: Path | str, key_path: str, reason: str):
        self.file, self.key_path, self.reason = str(file), key_path, reason
        where = f"{self.file}: {key_path}: " if key_path else f"{self.file}: "
        super().__init__(f"{where}{reason}")


def interpolate(value: Any, file: Path, path: str = "") -> Any:
    """Replace ``${VAR}`` and ``${VAR:default}`` in every string of a parsed YAML document."""
    if isinstance(value, dict):
        return {key: interpolate(item, file, _join(path, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, file, f"{path}[{index}]") for index, item in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is None:
            raise ConfigError(file, path, f"environment variable {name} is not set and has no default")
        return default

    return _VARIABLE.sub(substitute, value)


def load_yaml(file: Path) -> Any:
    if not file.is_file():
        raise ConfigError(file, "", "file not found")
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(file, where, f"not valid YAML: {getattr(error, 'problem', error)}") from None
    return interpolate(document or {}, file)


def load_model(file: Path, model: type[Model]) -> Model:
    document = load_yaml(file)
    try:
        return model.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        key_path = ".".join(str(part) for part in first["loc"])
        more = f" (and {error.error_count() - 1} more problem(s))" if error.error_count() > 1 else ""
        raise ConfigError(file, key_path, f"{first['msg']}{more}") from None


def load_datasources(file: Path) -> DataSources:
    return load_model(file, DataSources)


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)
