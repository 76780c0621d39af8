"""Typed configs: dataclasses loaded from YAML, overridden by `key=value` on the command line, saved as YAML.

Why not OmegaConf/Hydra: a ~150-line loader gives exact errors in the user's terms ("unknown key
'lerning_rate' in afp.yaml; did you mean 'learning_rate'?") and keeps the dependency list short.
Dotted keys reach nested dataclasses (`train.learning_rate=1e-5`) and list items (`stages.0.max_steps=10`).
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import logging
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from crossalign.errors import CrossalignError

T = TypeVar("T")
_MISSING = dataclasses.MISSING


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Convert `value` (from YAML or a `key=value` string) to type `tp`, or raise a one-line error."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None or (isinstance(value, str) and value.lower() in ("null", "none") and type(None) in args):
            if type(None) in args:
                return None
        if isinstance(value, (str, bool)) and any(_is_enum(a) for a in args):
            args = tuple(a for a in args if a is not str)  # transformers' `SchedulerType | str`: the str names a member
        errors = []
        # Try str last so that "5" becomes int 5 for `int | str`.
        for arg in sorted((a for a in args if a is not type(None)), key=lambda a: a is str):
            try:
                return _coerce(value, arg, where)
            except CrossalignError as e:
                errors.append(str(e))
        if len(errors) == 1:
            raise CrossalignError(errors[0])
        raise CrossalignError(f"{where}: {value!r} is not a {' or '.join(_type_name(a) for a in args)}; fix the value")
    if value is None:
        raise CrossalignError(f"{where} is empty (null) but needs a {_type_name(tp)}; give it a value")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise CrossalignError(f"{where}: expected a mapping of {tp.__name__} keys, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (list, tuple) or tp in (list, tuple):
        (item_tp,) = get_args(tp)[:1] or (Any,)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()] if not value.startswith("[") else yaml.safe_load(value)
        if not isinstance(value, (list, tuple)):
            value = [value]
        return [_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        args = get_args(tp) or (str, Any)
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, dict):
            raise CrossalignError(f"{where}: expected a mapping, got {value!r}")
        return {_coerce(k, args[0], where): _coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if origin is typing.Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise CrossalignError(f"{where}: {value!r} is not one of {', '.join(map(repr, allowed))}; pick one")
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        raise CrossalignError(f"{where}: {value!r} is not a boolean; use true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:  # "10", 1e3 and "1e3" are whole numbers; 1.5 and "ten" are not
            f = float(value) if not isinstance(value, bool) else 0.5
        except (TypeError, ValueError):
            f = 0.5
        if f.is_integer():
            return int(f)
        raise CrossalignError(f"{where}: {value!r} is not an integer; give a whole number")
    if tp is float:
        if isinstance(value, bool):
            raise CrossalignError(f"{where}: {value!r} is not a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise CrossalignError(f"{where}: {value!r} is not a number; give e.g. 1e-5 or 0.3") from None
    if tp is str:
        if isinstance(value, (dict, list)):
            raise CrossalignError(f"{where}: expected a string, got {value!r}")
        return str(value)
    if tp is Path:
        return Path(value)
    if _is_enum(tp):
        if value is False and "no" in {m.value for m in tp}:
            value = "no"  # YAML reads a bare `no` (save_strategy=no) as false
        try:
            return tp(value).value
        except ValueError:
            raise CrossalignError(f"{where}: {value!r} is not one of {', '.join(repr(m.value) for m in tp)}; "
                                  "pick one") from None
    return value


def _is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, enum.Enum)


def as_list(value) -> list[str]:
    """A list option from Python: a list (or tuple) of values, or the command line's comma-separated string."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(x).strip() for x in items if str(x).strip()]


def _closest(key: str, options: list[str]) -> str:
    close = difflib.get_close_matches(key, options, n=1)
    return f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(options)}"


def from_dict(cls: type[T], data: dict, where: str = "config") -> T:
    """Build dataclass `cls` from a mapping: unknown keys, missing required keys and bad types are one-line errors.

    Keys in `cls.RETIRED_KEYS` ({key: why}) are ignored with a warning, so configs saved by older versions load."""
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    retired = getattr(cls, "RETIRED_KEYS", {})
    for k in data:
        if k in retired and k not in fields:
            logging.getLogger("crossalign").warning("%s: %r is no longer used and is ignored (%s)", where, k, retired[k])
    unknown = [k for k in data if k not in fields and k not in retired]
    if unknown:
        k = unknown[0]
        raise CrossalignError(f"unknown key {k!r} in {where}: {_closest(k, list(fields))}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], f"{where}.{name}" if where != "config" else name)
        elif f.default is _MISSING and f.default_factory is _MISSING:
            raise CrossalignError(f"missing config key {name!r} in {where}: add `{name}: ...` to the YAML or `{name}=...` on the command line")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:
        if isinstance(e, CrossalignError):
            raise
        raise CrossalignError(f"invalid {where}: {e}") from None


def to_dict(cfg: Any) -> Any:
    """Plain YAML-able data (paths as strings)."""
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {k: to_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, Path):
        return str(cfg)
    return cfg


def read_yaml(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise CrossalignError(f"config file not found: {p}; give a path to a YAML file or a recipe name (`crossalign recipes` lists them)")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CrossalignError(f"{p} is not valid YAML ({first}); fix the syntax") from None
    if not isinstance(data, dict):
        raise CrossalignError(f"{p} must hold a mapping of config keys at the top level")
    return data


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `a.b=value` / `stages.1.lr=2e-6` strings to a nested mapping (values parsed as YAML scalars)."""
    for item in overrides:
        if "=" not in item:
            raise CrossalignError(f"override {item!r} is not key=value; write e.g. train.learning_rate=1e-5")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw.strip() else ""
        if isinstance(value, (int, float)) and not isinstance(value, bool) and raw.strip().lower() in ("nan", "inf"):
            value = raw
        node: Any = data
        parts = key.strip().split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise CrossalignError(f"override {key!r}: {part!r} is not an index of a {len(node)}-item list")
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            else:
                if part.isdigit():
                    raise CrossalignError(f"override {key!r}: {'.'.join(parts[:i])!r} has no item {part}, it is not a list or is empty (not an index)")
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
                    if not isinstance(node, (dict, list)):
                        raise CrossalignError(f"override {key!r}: {part!r} is a value, not a section")
    return data


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None, base: dict | None = None) -> T:
    """YAML file (or `base` mapping) + overrides -> typed config."""
    data = dict(base or {})
    if path is not None:
        data.update(read_yaml(path))
    data = apply_overrides(data, list(overrides or []))
    return from_dict(cls, data, where=Path(path).name if path else "config")


def save_config(cfg: Any, path: str | Path) -> Path:
    """Write the resolved config as YAML (beside every output, so a run can be repeated exactly)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True), encoding="utf-8")
    return p
