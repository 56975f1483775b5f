"""Load config YAML files: ``${VAR}`` / ``${VAR:default}`` interpolation, then validation into typed models."""

from __future__ import annotations

import os
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from etl_assets.config.models import DataSources
from etl_assets.config.suggest import did_you_mean

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


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(self.name, f"line {line}", f"key {key!r} is given twice in one mapping (first at "
                                  f"line {seen[key]}); delete one of them")
            seen[key] = line
        return super().construct_mapping(node, deep)


def load_yaml(file: Path) -> Any:
    if not file.is_file():
        raise ConfigError(file, "", "file not found")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(file, "", f"cannot be read: {error}") from None
    loader = _UniqueKeyLoader(text)
    loader.name = str(file)
    try:
        document = loader.get_single_data()
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(file, where, f"not valid YAML: {getattr(error, 'problem', error)}") from None
    finally:
        loader.dispose()
    if document is not None and not isinstance(document, dict):
        raise ConfigError(file, "", f"expected a mapping of keys at the top, found a {type(document).__name__}")
    return interpolate(document or {}, file)


def load_model(file: Path, model: type[Model]) -> Model:
    document = load_yaml(file)
    try:
        return model.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        key_path = ".".join(str(part) for part in first["loc"])
        more = f" (and {error.error_count() - 1} more problem(s))" if error.error_count() > 1 else ""
        raise ConfigError(file, key_path, f"{first['msg']}{_did_you_mean(model, first)}{more}") from None


def _did_you_mean(model: type[BaseModel], error: dict) -> str:
    """For an unknown key, the closest allowed key of the model it was found in."""
    if error["type"] != "extra_forbidden":
        return ""
    allowed = _allowed_keys(model, [part for part in error["loc"][:-1]])
    return did_you_mean(str(error["loc"][-1]), allowed)


def _allowed_keys(model: type[BaseModel], path: list) -> list[str]:
    """The keys allowed at ``path`` below ``model``: model fields by alias, dict values and list items followed."""
    current: Any = model
    for part in path:
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {info.alias or name: info for name, info in current.model_fields.items()}
            if part not in fields:
                return []
            current = fields[part].annotation
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]
        else:
            return []
        current = _without_none(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [info.alias or name for name, info in current.model_fields.items()]
    return []


def _without_none(annotation: Any) -> Any:
    arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(arguments) == 1:
        return arguments[0]
    return annotation


def load_datasources(file: Path) -> DataSources:
    return load_model(file, DataSources)


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)
