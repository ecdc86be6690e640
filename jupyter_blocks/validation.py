"""Turn a request body into a clean `NewGrid`, or a list of precise errors.

The envelope (keys, types, bounds) is checked with a JSON Schema built from the configured
limits. The blocks themselves (up to `max_cells` of them) are checked by a tight loop instead:
a schema validator takes seconds on a quarter of a million blocks, this loop milliseconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator, validators

GRID_CLASSES = ("BlockGrid", "ImageGrid")
ORIGINS = ("upper-left", "lower-left")
# Stop collecting block errors after this many: one is enough to fix, a screenful is plenty.
MAX_REPORTED_ERRORS = 20


@dataclass(frozen=True)
class Limits:
    max_cells: int = 250_000
    max_block_size: int = 100
    max_code_cells: int = 200
    max_code_cell_chars: int = 100_000
    max_title_chars: int = 200


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


@dataclass
class InvalidPayload(Exception):
    message: str
    errors: list[FieldError] = field(default_factory=list)


@dataclass(frozen=True)
class NewGrid:
    """A validated grid, ready to store."""

    ipb_class: str
    grid_data: dict[str, Any]
    secret: bool = False
    title: str | None = None
    parent: str | None = None
    code_cells: list[str] | None = None
    ipb_version: str | None = None
    python_version: list[Any] | None = None

    @property
    def width(self) -> int:
        return int(self.grid_data["width"])

    @property
    def height(self) -> int:
        return int(self.grid_data["height"])


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes) -> Any:
    """Strict JSON: UTF-8 only, no NaN or Infinity, no nesting deep enough to crash the parser."""
    try:
        text = body.decode("utf-8")
        return json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError as err:
        raise InvalidPayload("Request body is not UTF-8 text") from err
    except (ValueError, RecursionError) as err:
        raise InvalidPayload(f"Request body is not valid JSON: {err}") from err


def payload_schema(limits: Limits, allow_title: bool) -> dict[str, Any]:
    dimension = {"type": "integer", "minimum": 1, "maximum": limits.max_cells}
    properties: dict[str, Any] = {
        "python_version": {
            "type": "array",
            "maxItems": 8,
            "items": {"type": ["integer", "string"], "maxLength": 32},
        },
        "ipb_version": {"type": "string", "maxLength": 32},
        "ipb_class": {"enum": list(GRID_CLASSES)},
        "code_cells": {
            "type": ["array", "null"],
            "maxItems": limits.max_code_cells,
            "items": {"type": "string", "maxLength": limits.max_code_cell_chars},
        },
        "secret": {"type": "boolean"},
        "grid_data": {
            "type": "object",
            "properties": {
                "lines_on": {"type": "boolean"},
                "width": dimension,
                "height": dimension,
                "blocks": {"type": "array"},
                "origin": {"enum": list(ORIGINS)},
            },
            "required": ["lines_on", "width", "height", "blocks"],
            "additionalProperties": False,
        },
    }
    if allow_title:
        properties["title"] = {"type": ["string", "null"], "maxLength": limits.max_title_chars}
        properties["parent"] = {"type": ["string", "null"], "maxLength": 64}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": ["ipb_class", "grid_data"],
        "additionalProperties": False,
    }


# JSON Schema counts 3.0 as an integer and Python counts True as one; neither is a block count.
_StrictValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: type(value) is int
    ),
)
# jsonschema quotes the offending value in its messages, and a value can be megabytes long:
# past this length, say what the rule is instead.
MAX_MESSAGE_CHARS = 200
_RULES = {
    "maxItems": "must have at most {} items (too long)",
    "maxLength": "must be at most {} characters (too long)",
    "type": "must be of type {}",
    "enum": "must be one of {}",
    "minimum": "must be at least {} (minimum)",
    "maximum": "must be at most {} (maximum)",
}


def _message(error: Any) -> str:
    if len(error.message) <= MAX_MESSAGE_CHARS:
        return str(error.message)
    rule = _RULES.get(error.validator, f"fails the {error.validator} rule {{}}")
    return rule.format(json.dumps(error.validator_value))


def _path(parts: Any) -> str:
    return ".".join(str(part) for part in parts)


def _block_errors(blocks: list[Any], width: int, height: int, max_size: int) -> list[FieldError]:
    errors: list[FieldError] = []

    def add(path: str, message: str) -> bool:
        errors.append(FieldError(path, message))
        return len(errors) >= MAX_REPORTED_ERRORS

    if len(blocks) != height:
        add("grid_data.blocks", f"expected {height} rows (the height), got {len(blocks)}")
        return errors
    for row_index, row in enumerate(blocks):
        row_path = f"grid_data.blocks.{row_index}"
        if type(row) is not list:
            if add(row_path, "a row must be a list of blocks"):
                return errors
            continue
        if len(row) != width:
            if add(row_path, f"expected {width} blocks (the width), got {len(row)}"):
                return errors
            continue
        for col_index, block in enumerate(row):
            if (
                type(block) is list
                and len(block) == 4
                and type(block[0]) is int
                and type(block[1]) is int
                and type(block[2]) is int
                and type(block[3]) is int
                and 0 <= block[0] <= 255
                and 0 <= block[1] <= 255
                and 0 <= block[2] <= 255
                and 1 <= block[3] <= max_size
            ):
                continue
            if add(f"{row_path}.{col_index}", _describe_bad_block(block, max_size)):
                return errors
    return errors


def _describe_bad_block(block: Any, max_size: int) -> str:
    if type(block) is not list or len(block) != 4:
        return "a block must be a list [red, green, blue, size]"
    for name, value in zip(("red", "green", "blue"), block[:3], strict=True):
        if type(value) is not int or not 0 <= value <= 255:
            return f"{name} must be an integer from 0 to 255, got {json.dumps(value)}"
    return f"size must be an integer from 1 to {max_size}, got {json.dumps(block[3])}"


class PayloadValidator:
    """Validates grid payloads against one set of limits."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._protocol = _StrictValidator(payload_schema(limits, allow_title=False))
        self._api = _StrictValidator(payload_schema(limits, allow_title=True))

    def validate(self, body: bytes, allow_title: bool = False) -> NewGrid:
        payload = parse_json(body)
        validator = self._api if allow_title else self._protocol
        schema_errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
        if schema_errors:
            raise InvalidPayload(
                "Invalid grid payload",
                [FieldError(_path(e.absolute_path), _message(e)) for e in schema_errors],
            )
        grid_data = payload["grid_data"]
        width, height = grid_data["width"], grid_data["height"]
        if width * height > self.limits.max_cells:
            raise InvalidPayload(
                "Invalid grid payload",
                [
                    FieldError(
                        "grid_data",
                        f"{width}x{height} is {width * height} blocks, "
                        f"more than the limit of {self.limits.max_cells}",
                    )
                ],
            )
        block_errors = _block_errors(grid_data["blocks"], width, height, self.limits.max_block_size)
        if block_errors:
            raise InvalidPayload("Invalid grid payload", block_errors)
        return NewGrid(
            ipb_class=payload["ipb_class"],
            grid_data=grid_data,
            secret=payload.get("secret", False),
            title=payload.get("title") or None,
            parent=payload.get("parent") or None,
            code_cells=payload.get("code_cells"),
            ipb_version=payload.get("ipb_version"),
            python_version=payload.get("python_version"),
        )
