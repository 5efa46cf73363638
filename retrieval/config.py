"""Frozen-dataclass configs saved as JSON beside every artifact and reloaded from it; JSON reports."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, TypeVar

from retrieval.errors import ConfigError

T = TypeVar("T")


def to_dict(cfg: Any) -> dict[str, Any]:
    """Return a JSON-ready dict of a (possibly nested) dataclass config."""
    return dataclasses.asdict(cfg)


def save_config(cfg: Any, path: str | Path) -> Path:
    """Write ``cfg`` as pretty JSON to ``path`` and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_dict(cfg), indent=2, sort_keys=True) + "\n")
    return path


def write_json(data: Any, path: str | Path) -> Path:
    """Write ``data`` as indented JSON (a report: keys in their order) to ``path``, parents made."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys are an error, nested dataclasses load."""
    if not dataclasses.is_dataclass(cls):
        raise ConfigError(f"{cls!r} is not a dataclass config.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"Unknown {cls.__name__} keys: {', '.join(unknown)}.",
            fix=f"use only: {', '.join(sorted(fields))}",
        )
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        sub = hints.get(name)
        if isinstance(sub, type) and dataclasses.is_dataclass(sub) and isinstance(value, dict):
            value = from_dict(sub, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ConfigError(f"Bad {cls.__name__}: {err}.", fix="check the JSON against the fields") from err


def load_config(cls: type[T], path: str | Path) -> T:
    """Load dataclass ``cls`` from the JSON file at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file {path} does not exist.", fix="pass an existing JSON file")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path} is not valid JSON ({err}).", fix="correct the JSON") from err
    return from_dict(cls, data)
