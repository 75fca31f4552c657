"""Config dataclasses <-> command-line flags <-> JSON.

One dataclass per experiment, with a comment per field; this module turns it into flags:

    @dataclass
    class DQNConfig:
        # Step size of Adam.
        learning_rate: float = 1e-3

becomes `--learning-rate 0.001` with that comment as its help. Booleans become
`--flag/--no-flag`, `tuple[int, ...]` fields take several values (`--hidden 256 256`),
`Literal[...]` fields get choices, `X | None` fields accept `none`, fields typed
`rl.schedules.Schedule` take a schedule's JSON
(`--epsilon '{"kind": "linear", "start": 1, "end": 0.05, "duration": 10000}'`) or a bare number
and hold the schedule object itself, and other dict fields take JSON.

Flags that are not given do not appear in the parsed namespace at all (argparse.SUPPRESS), so
`from_args(cls, args, base=preset)` layers: dataclass defaults < preset < what the user typed.
`to_json` / `from_json` are the one place where a config becomes JSON and back (a schedule is
written as its `config()` dict), for config.json and checkpoints alike.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import json
import math
import textwrap
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from rl import schedules
from rl.schedules import Schedule

_NONE_WORDS = {"none", "null"}


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose errors are one line, without the twenty lines of usage of a
    config with many fields before the one that matters (--help shows those)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def flag_name(field_name: str) -> str:
    """`learning_rate` -> `--learning-rate`."""
    return "--" + field_name.replace("_", "-")


@functools.cache
def field_comments(cls: type) -> dict[str, str]:
    """Help text per field from the comment lines just above it (or at the end of its line)."""
    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):  # base classes first, subclasses override
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):  # defined in a REPL or exec'd string: no comments to read
            continue
        lines = source.splitlines()
        class_node = ast.parse(source).body[0]
        for node in getattr(class_node, "body", []):
            if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
                continue
            text = []
            row = node.lineno - 2  # 0-based index of the line above the field
            while row >= 0 and lines[row].strip().startswith("#"):
                text.insert(0, lines[row].strip().lstrip("#").strip())
                row -= 1
            line = lines[node.lineno - 1]
            if not text and "#" in line:
                text.append(line.split("#", 1)[1].strip())
            if text:
                comments[node.target.id] = " ".join(text)
    return comments


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """(X, True) for `X | None` / `Optional[X]`, else (tp, False)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err.msg}): {text!r}") from None


def json_object(text: str) -> dict:
    """argparse type of a flag that takes a JSON object (--env-kwargs, a benchmark's
    --settings)."""
    value = _json_value(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as {{}}, got {text!r}")
    return value


def parse_schedule(text: str) -> Schedule:
    """argparse type of a Schedule field: a schedule's JSON, or a bare number (a constant)."""
    try:
        number = float(text)  # also "nan" and "inf", which JSON lacks, to refuse them by name
    except ValueError:
        number = None
    try:
        return schedules.from_config(number if number is not None else _json_value(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _optional(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        return None if text.lower() in _NONE_WORDS else convert(text)

    parse.__name__ = getattr(convert, "__name__", "value")  # argparse names it in errors
    return parse


def _is_tuple_type(tp: Any) -> bool:
    return typing.get_origin(_unwrap_optional(tp)[0]) in (tuple, list)


def add_dataclass_args(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    exclude: Iterable[str] = (),
    preset: Mapping[str, Any] | None = None,
    preset_name: str = "",
) -> None:
    """Add `--field-name` for every field of dataclass `cls` (except those in `exclude`).

    The help shows each field's default, or its value in `preset` (named `preset_name`, e.g.
    an environment id) where the preset sets it: the value a run would get.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    excluded = set(exclude)
    for f in dataclasses.fields(cls):
        if f.name in excluded or not f.init:
            continue
        tp, optional = _unwrap_optional(hints[f.name])
        default = _default_of(f)
        help_text = f.metadata.get("help") or comments.get(f.name, "")
        help_text = help_text.replace("%", "%%")  # argparse %-formats help strings
        if preset is not None and f.name in preset:
            shown = f"{preset_name} preset: {_show(preset[f.name])}"
        else:
            shown = f"default: {_show(default)}"
        help_text = f"{help_text} ({shown})".strip()
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
        origin = typing.get_origin(tp)
        if tp is Schedule:
            kwargs["type"] = parse_schedule
            kwargs["metavar"] = "SCHEDULE"
        elif tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif origin is typing.Literal:
            choices = typing.get_args(tp)
            kwargs["type"] = type(choices[0])
            kwargs["choices"] = choices
        elif origin in (tuple, list):
            item_types = [a for a in typing.get_args(tp) if a is not Ellipsis] or [str]
            kwargs["type"] = item_types[0]
            kwargs["nargs"] = "*"
            kwargs["metavar"] = item_types[0].__name__.upper()
        elif tp in (int, float, str):
            kwargs["type"] = tp
            kwargs["metavar"] = tp.__name__.upper()
        else:  # dicts (schedule configs) and anything else JSON can describe
            kwargs["type"] = _json_value
            kwargs["metavar"] = "JSON"
        if optional and "type" in kwargs:
            kwargs["type"] = _optional(kwargs["type"])
        parser.add_argument(flag_name(f.name), **kwargs)


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _show(value: Any) -> str:
    if value is dataclasses.MISSING:
        return "required"
    if isinstance(value, Schedule):
        value = value.config()
    if isinstance(value, dict):
        return json.dumps(value).replace("%", "%%")  # argparse %-formats help strings
    return str(value).replace("%", "%%")


def given_fields(cls: type, args: argparse.Namespace | Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `cls` that were given on the command line (or in a dict), with their values."""
    names = {f.name for f in dataclasses.fields(cls)}
    given = args if isinstance(args, Mapping) else vars(args)
    return {k: v for k, v in given.items() if k in names}


def from_args(
    cls: type, args: argparse.Namespace | Mapping[str, Any], base: Mapping[str, Any] | None = None
) -> Any:
    """Build `cls` from parsed flags (or a dict of values, e.g. a sweep's); fields not given come
    from `base`, then the defaults.

    `base` is a preset: overrides of the defaults, of which only `cls`'s own fields are taken
    (one preset may hold the fields of several configs, e.g. the agent's and the loop's).
    """
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in (base or {}).items() if k in names}
    return from_json(cls, {**values, **given_fields(cls, args)})


def acting_only_fields(cfg: Any) -> frozenset[str]:
    """The fields of a config (instance or class) that change how a trained agent acts, never
    its parameters (its class's `acting_only_fields`; none by default): a checkpoint loads
    whatever their values, and scripts may override them on a trained run."""
    cls = cfg if isinstance(cfg, type) else type(cfg)
    return frozenset(getattr(cls, "acting_only_fields", frozenset()))


def to_json(cfg: Any) -> dict[str, Any]:
    """A JSON-able dict of a config dataclass (tuples become lists, schedules their config)."""
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"expected a dataclass instance, got {cfg!r}")
    return {f.name: _jsonable(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Schedule):
        return value.config()
    return json.loads(json.dumps(value))  # tuples -> lists; a value JSON cannot hold raises


def _scalar(cls: type, name: str, tp: type, value: Any) -> Any:
    """`value` as a `tp` field takes it (an int is a fine float); anything else is an error.

    A float must be finite: NaN or infinity is never a meaningful setting (a JSON file or a
    flag such as `--huber-delta nan` could carry one).
    """
    fits = isinstance(value, tp) and not (tp is not bool and isinstance(value, bool))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not fits:
        raise ValueError(f"{cls.__name__}.{name} must be a {tp.__name__}, got {value!r}")
    if tp is float and not math.isfinite(value):
        raise ValueError(f"{cls.__name__}.{name} must be a finite number, got {value}")
    return value


def from_json(cls: type, d: Mapping[str, Any]) -> Any:
    """Build `cls` from a dict such as `to_json` wrote; unknown keys are an error.

    Missing keys take the dataclass defaults, so a config.json from an older version still loads.
    """
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(d) - set(names))
    if unknown:
        raise ValueError(
            f"unknown {cls.__name__} field(s) {', '.join(unknown)}; "
            f"known fields: {', '.join(names)}"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in d.items():
        tp, _ = _unwrap_optional(hints[name])
        if tp is Schedule and not isinstance(value, Schedule) and value is not None:
            try:
                value = schedules.from_config(value)
            except ValueError as err:
                raise ValueError(f"{cls.__name__}.{name}: {err}") from None
        elif isinstance(value, list) and _is_tuple_type(hints[name]):
            value = tuple(value)
        elif tp in (int, float, str, bool) and value is not None:
            value = _scalar(cls, name, tp, value)
        elif typing.get_origin(tp) is typing.Literal and value not in typing.get_args(tp):
            choices = ", ".join(repr(c) for c in typing.get_args(tp))
            raise ValueError(f"{cls.__name__}.{name} must be one of {choices}, got {value!r}")
        values[name] = value
    try:
        return cls(**values)
    except TypeError as err:
        raise ValueError(f"cannot build {cls.__name__} from {dict(d)}: {err}") from None
