"""Typed, validated construction of frozen dataclasses from parsed YAML.

Every error names the file and the dotted key it concerns, e.g.
``default.yaml: uplink.sigma_mbps: must be > 0, got -3.0``. An unknown key is an error, never
silently ignored. Numeric bounds are declared next to the field with :func:`field`.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")

_MISSING = dataclasses.MISSING


class ConfigError(ValueError):
    """A configuration value is unknown, mistyped or impossible.

    ``source`` names the file (or other origin), ``key`` the dotted path of the value.
    """

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source = source
        self.key = key
        self.message = _clip(message.replace("\n", " "), 500)  # one line, whatever a parser said
        where = f"{source}: {_clip(key, 200)}" if key else source
        super().__init__(f"{where}: {self.message}")


def _clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (a message quoting a huge value stays readable)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Invalid(ValueError):
    """Raised inside ``__post_init__`` checks; re-raised as :class:`ConfigError` with the path.

    ``key`` is relative to the dataclass being checked (``""`` for the object itself).
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}" if key else message)


def field(
    default: Any = _MISSING,
    *,
    default_factory: Callable[[], Any] | Any = _MISSING,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    doc: str = "",
) -> Any:
    """A dataclass field with numeric bounds checked by :func:`build`."""
    metadata = {"gt": gt, "ge": ge, "lt": lt, "le": le, "doc": doc}
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def origin_of(origins: Mapping[str, str], path: str, default: str = "") -> str:
    """The file a dotted key came from: the origin of its longest recorded prefix."""
    probe = path
    while probe:
        if probe in origins:
            return origins[probe]
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""
    return default


class _Ctx:
    """Where values come from: a default source plus per-key origins of merged files."""

    def __init__(self, source: str, origins: Mapping[str, str] | None) -> None:
        self.source = source
        self.origins = origins or {}

    def where(self, path: str) -> str:
        return origin_of(self.origins, path, self.source)

    def error(self, path: str, message: str) -> ConfigError:
        return ConfigError(self.where(path), path, message)


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    if origin is not None:
        args = ", ".join("..." if a is Ellipsis else _type_name(a) for a in get_args(tp))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _convert(tp: Any, value: Any, path: str, ctx: _Ctx) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        last: ConfigError | None = None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, path, ctx)
            except ConfigError as exc:
                last = exc
        if last is not None and len([a for a in args if a is not type(None)]) == 1:
            raise last
        raise ctx.error(path, f"expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ctx.error(path, f"expected one of {', '.join(map(repr, allowed))}, got {value!r}")
        return value
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, list | tuple):
            raise ctx.error(path, f"expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, _join(path, i), ctx) for i, v in enumerate(value))
        if len(value) != len(args):
            raise ctx.error(path, f"expected a list of {len(args)} items, got {len(value)}")
        return tuple(_convert(a, v, _join(path, i), ctx) for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if origin is dict or origin is Mapping:
        key_tp, val_tp = get_args(tp)
        if not isinstance(value, Mapping):
            raise ctx.error(path, f"expected a mapping, got {value!r}")
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ctx.error(path, f"keys must be strings, got {k!r}")
            out[_convert(key_tp, k, path, ctx)] = _convert(val_tp, v, _join(path, k), ctx)
        return out
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ctx.error(path, f"expected a mapping, got {value!r}")
        return _build(tp, value, path, ctx)
    if tp is bool:
        if not isinstance(value, bool):
            raise ctx.error(path, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ctx.error(path, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ctx.error(path, f"expected a number, got {value!r}")
        try:
            value = float(value)
        except OverflowError:  # an integer beyond any float
            raise ctx.error(path, f"expected a finite number, got an integer of {len(str(value))} digits") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ctx.error(path, f"expected a finite number, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ctx.error(path, f"expected a string, got {value!r}")
        return value
    if tp is Any:
        return value
    raise TypeError(f"unsupported config type {tp!r} at {path}")  # a schema bug, not user input


def _num(bound: float) -> str:
    """A bound as written in a schema: integers in full, other numbers in short form."""
    return str(bound) if isinstance(bound, int) else f"{bound:g}"


def accepted_range(metadata: Mapping[str, Any]) -> str:
    """The accepted interval of a bounded field, e.g. ``(0, 1000]`` or ``>= 1``."""
    lo: tuple[str, Any] = ("(", metadata["gt"]) if metadata.get("gt") is not None else ("[", metadata.get("ge"))
    hi: tuple[str, Any] = (")", metadata["lt"]) if metadata.get("lt") is not None else ("]", metadata.get("le"))
    if lo[1] is None and hi[1] is None:
        return ""
    if hi[1] is None:
        return f"{'>' if lo[0] == '(' else '>='} {_num(lo[1])}"
    if lo[1] is None:
        return f"{'<' if hi[0] == ')' else '<='} {_num(hi[1])}"
    return f"{lo[0]}{_num(lo[1])}, {_num(hi[1])}{hi[0]}"


def _check_bounds(f: dataclasses.Field[Any], value: Any, path: str, ctx: _Ctx) -> None:
    if isinstance(value, tuple):  # a list of numbers: each item within the field's bounds
        for i, item in enumerate(value):
            _check_bounds(f, item, _join(path, i), ctx)
        return
    if not isinstance(value, int | float) or isinstance(value, bool):
        return
    md = f.metadata
    checks = (
        ("gt", ">", value > md["gt"] if md.get("gt") is not None else True),
        ("ge", ">=", value >= md["ge"] if md.get("ge") is not None else True),
        ("lt", "<", value < md["lt"] if md.get("lt") is not None else True),
        ("le", "<=", value <= md["le"] if md.get("le") is not None else True),
    )
    for key, symbol, ok in checks:
        if not ok:
            interval = accepted_range(md)
            both = interval.startswith(("(", "["))
            extra = f" (accepted range {interval})" if both else ""
            raise ctx.error(path, f"must be {symbol} {_num(md[key])}, got {value!r}{extra}")


def _build(cls: type[T], data: Mapping[str, Any], path: str, ctx: _Ctx) -> T:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = [k for k in data if k not in fields]
    if unknown:
        known = ", ".join(sorted(fields))
        raise ctx.error(_join(path, str(unknown[0])), f"unknown key (known keys here: {known})")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        sub = _join(path, name)
        if name in data:
            value = _convert(hints[name], data[name], sub, ctx)
            _check_bounds(f, value, sub, ctx)
            kwargs[name] = value
        elif f.default is _MISSING and f.default_factory is _MISSING:
            raise ctx.error(sub, "required key is missing")
    try:
        return cls(**kwargs)
    except Invalid as exc:
        raise ctx.error(_join(path, exc.key) if exc.key else path, exc.message) from None


def build(
    cls: type[T],
    data: Mapping[str, Any],
    *,
    source: str,
    origins: Mapping[str, str] | None = None,
    path: str = "",
) -> T:
    """Build ``cls`` from ``data``; errors name ``source`` (or the key's origin) and the key."""
    if not isinstance(data, Mapping):
        raise ConfigError(source, path, f"expected a mapping at the top level, got {type(data).__name__}")
    return _build(cls, data, path, _Ctx(source, origins))


def _section_type(cls: Any, key: str) -> Any:
    """The dataclass type of field ``key`` of ``cls`` (unwrapping ``X | None``), else None."""
    if cls is None or not dataclasses.is_dataclass(cls):
        return None
    tp = get_type_hints(cls).get(key)
    if get_origin(tp) in (Union, types.UnionType):
        inner = [a for a in get_args(tp) if a is not type(None)]
        tp = inner[0] if len(inner) == 1 else None
    return tp if dataclasses.is_dataclass(tp) else None


def deep_merge(
    base: Mapping[str, Any],
    over: Mapping[str, Any],
    base_origins: Mapping[str, str],
    over_source: str,
    schema: Any = None,
    path: str = "",
) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge ``over`` into ``base``.

    Config sections (fields whose type is a dataclass of ``schema``) merge key by key; every
    other value, including user-keyed tables such as a scene mix, replaces the base value as
    a whole. Returns the merged mapping and, per dotted key, the file it came from.
    """
    merged = dict(base)
    origins = dict(base_origins)
    for key, value in over.items():
        sub = _join(path, str(key))
        section = _section_type(schema, str(key))
        if section is not None and isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key], origins = deep_merge(merged[key], value, origins, over_source, section, sub)
        else:
            merged[key] = value
            for stale in [k for k in origins if k == sub or k.startswith((sub + ".", sub + "["))]:
                del origins[stale]
            origins[sub] = over_source
    return merged, origins
