"""Typed engine options: each engine class declares ``OPTIONS = {"name": type, ...}``.

Options arrive as text from the command line (``--engine-opt steps=25``) or as values from
code; :func:`typed_options` turns them into the declared types (``bool`` reads
true/false/yes/no/on/off/1/0, ``int`` and ``float`` must be whole / finite numbers,
``pathlib.Path`` and ``str`` are kept as text) and refuses keys the engine does not declare,
naming the engine's options. An engine that declares no ``OPTIONS`` gets its options as
given (nothing can be checked for it).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Callable

from .errors import MelfoleyError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def option_schema(name: str, factory: Callable) -> dict | None:
    """The ``OPTIONS`` an engine declares: on its factory, else on the engine class of that name in
    the factory's module."""
    schema = getattr(factory, "OPTIONS", None)
    if schema is not None:
        return dict(schema)
    from .engine import Engine

    module = sys.modules.get(getattr(factory, "__module__", ""), None)
    for obj in vars(module).values() if module else ():
        if isinstance(obj, type) and issubclass(obj, Engine) and obj.name == name and "OPTIONS" in vars(obj):
            return dict(obj.OPTIONS)
    return None


def _convert(engine: str, key: str, kind: type, value):
    bad = MelfoleyError(f"engine {engine!r} option {key}={value!r}: expected {_describe(kind)}; "
                        f"e.g. --engine-opt {key}={_example(kind)}")
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise bad
    if kind is int:
        if isinstance(value, bool):
            raise bad
        try:
            f = float(value)
            if isinstance(value, str):
                value = int(value.strip()) if value.strip().lstrip("+-").isdigit() else f
        except (TypeError, ValueError, OverflowError):
            raise bad from None
        if not math.isfinite(f) or int(f) != f:
            raise bad
        return int(value)
    if kind is float:
        if isinstance(value, bool):
            raise bad
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise bad from None
        if not math.isfinite(f):
            raise bad
        return f
    if kind is Path:
        if not str(value).strip():
            raise bad
        return Path(str(value))
    return str(value)


def _describe(kind: type) -> str:
    return {bool: "true or false", int: "a whole number", float: "a number", Path: "a path"}.get(kind, "text")


def _example(kind: type) -> str:
    return {bool: "true", int: "25", float: "0.5", Path: "/path/to/folder"}.get(kind, "name")


def typed_options(name: str, factory: Callable, options: dict) -> dict:
    """``options`` in the types engine ``name`` declares; unknown keys are refused."""
    schema = option_schema(name, factory)
    if schema is None:
        return dict(options)
    out = {}
    for key, value in options.items():
        if key not in schema:
            known = ", ".join(sorted(schema)) or "none"
            raise MelfoleyError(f"engine {name!r} has no option {key!r}; its options: {known}")
        out[key] = _convert(name, key, schema[key], value)
    return out
