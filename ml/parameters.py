"""Declared parameters: one declaration (name, type, bounds, default, help) gives the defaults, the
command-line flags and the validation of HTTP bodies and query strings, so they cannot drift apart."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# A query string's words for a boolean, exactly (the API document lists them; empty means false).
QUERY_BOOLEAN = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False, "": False}
# A query string's numbers, ASCII only: Python's int() and float() also take spaces, underscores and
# other scripts' digits, which no OpenAPI client sends and no other reader of the same URL would agree on.
QUERY_INTEGER = re.compile(r"-?[0-9]+")
QUERY_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


class ParameterError(ValueError):
    """A parameter's value is unusable; the message names the parameter and what it accepts."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: type  # int, float, bool or str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def accepts(self) -> str:
        """What a valid value looks like, for error messages and --help."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return "text"
        noun = "a whole number" if self.kind is int else "a number"
        return f"{noun} from {self.bounds()}" if self.low is not None else noun

    def bounds(self, joiner: str = " to ") -> str:
        return f"{self.low:{'d' if self.kind is int else 'g'}}{joiner}{self.high:{'d' if self.kind is int else 'g'}}"

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of the value (for OpenAPI documents, checked against this declaration by a test)."""
        schema: dict[str, Any] = {"type": {int: "integer", float: "number", bool: "boolean", str: "string"}[self.kind]}
        if self.choices:
            schema["enum"] = list(self.choices)
        if self.low is not None:
            schema["minimum"], schema["maximum"] = self.low, self.high
        if self.default is not None:
            schema["default"] = self.default
        return {**schema, "description": self.help}

    def validate(self, value: object) -> Any:
        """A JSON value checked against the declaration (``7.0`` is the integer 7, as JSON Schema says)."""
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if self.kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, self.kind) or (self.kind is not bool and isinstance(value, bool)):
            raise self.refusal(value)
        if (
            (self.kind is float and not math.isfinite(value))  # type: ignore[arg-type]
            or (self.choices and value not in self.choices)
            or (self.low is not None and self.high is not None and not self.low <= value <= self.high)  # type: ignore[operator]
        ):
            raise self.refusal(value)
        return value

    def refusal(self, value: object) -> ParameterError:
        """The one message every refused value gets: the parameter, what it accepts, what came."""
        return ParameterError(self.name, f"{self.name} must be {self.accepts()}, not {value!r}")

    def parse_text(self, raw: str) -> Any:
        """A value written as text (a query string, a command-line flag)."""
        text = raw.strip()
        if self.kind is bool:
            if text.lower() in ("", "0", "false", "no"):
                return False
            if text.lower() in ("1", "true", "yes"):
                return True
            raise self.refusal(raw)
        if self.kind is str:
            return self.validate(text)
        try:
            value = self.kind(text)
        except ValueError:
            raise self.refusal(raw) from None
        return self.validate(value)

    def parse_query(self, raw: str) -> Any:
        """A value of a query string, in exactly the forms the API document gives (``parse_text`` is kinder,
        for flags and settings people type)."""
        if self.kind is bool:
            if raw not in QUERY_BOOLEAN:
                raise self.refusal(raw)
            return QUERY_BOOLEAN[raw]
        if self.kind is str:
            return self.validate(raw)
        if not (QUERY_INTEGER if self.kind is int else QUERY_NUMBER).fullmatch(raw):
            raise self.refusal(raw)
        return self.validate(self.kind(raw))


class Parameters:
    """An ordered, named set of parameters."""

    def __init__(self, *parameters: Parameter):
        self._by_name = {p.name: p for p in parameters}

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._by_name.values())

    def __getitem__(self, name: str) -> Parameter:
        return self._by_name[name]

    def __add__(self, other: Parameters) -> Parameters:
        return Parameters(*self, *other)

    def names(self) -> list[str]:
        return list(self._by_name)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self}

    def json_schema(self) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": False, "properties": {p.name: p.json_schema() for p in self}}

    def from_json(self, raw: object) -> dict[str, Any]:
        """A JSON object of some of these parameters, checked; the others take their defaults."""
        if not isinstance(raw, dict):
            raise ParameterError(
                "", f'send a JSON object of parameters, e.g. {{"epochs": 5}}, not {type(raw).__name__}'
            )
        unknown = sorted(set(raw) - set(self._by_name))
        if unknown:
            raise ParameterError(
                unknown[0], f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(self._by_name)}"
            )
        return {**self.defaults(), **{name: self[name].validate(value) for name, value in raw.items()}}

    def from_query(self, query: Mapping[str, str]) -> dict[str, Any]:
        """The declared parameters of a query string (others are ignored, as browsers add their own)."""
        return {p.name: p.parse_query(query[p.name]) if p.name in query else p.default for p in self}

    def add_flags(self, parser: argparse.ArgumentParser) -> None:
        """One command-line flag per parameter, with its bounds checked and shown in --help."""
        for p in self:
            if p.kind is bool:
                parser.add_argument(p.flag, action="store_true", default=p.default, help=p.help)
                continue
            default = "" if p.default is None else f" (default {p.default})"
            parser.add_argument(
                p.flag,
                type=_argparse_type(p),
                default=p.default,
                metavar=_metavar(p),
                help=f"{p.help}: {p.accepts()}{default}",
            )

    def only(self, names: Iterable[str]) -> Parameters:
        return Parameters(*(self[n] for n in names))


def _argparse_type(p: Parameter):
    def parse(raw: str) -> Any:
        try:
            return p.parse_text(raw)
        except ParameterError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = p.kind.__name__
    return parse


def _metavar(p: Parameter) -> str:
    if p.choices:
        return "{" + ",".join(p.choices) + "}"
    return p.bounds("-") if p.low is not None else p.kind.__name__.upper()
