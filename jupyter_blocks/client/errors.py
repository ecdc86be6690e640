"""The errors the kernel side raises: each says what went wrong and what to do."""

from __future__ import annotations

from typing import Any

import requests

# The server's precise errors quoted in an exception's text: this many, each this long at most.
QUOTED_ERRORS = 3
QUOTED_ERROR_CHARS = 200


class BlocksError(Exception):
    """Something went wrong talking to jupyter-blocks."""


class BlocksConnectionError(BlocksError):
    """No jupyter-blocks server could be found or reached from this kernel."""


class BlocksRequestError(BlocksError, requests.HTTPError):
    """The server refused a request (4xx/5xx). Also a `requests.HTTPError`, like the stock
    client's errors. `status` is the HTTP status, `errors` the server's precise errors."""

    def __init__(
        self, message: str, *, status: int, errors: list[dict[str, Any]], response: Any = None
    ) -> None:
        super().__init__(message, response=response)
        self.status = status
        self.errors = errors


def quote_errors(errors: list[dict[str, Any]]) -> str:
    """The first precise errors as `path: message; ...` (capped), for an exception's text."""
    quoted = []
    for error in errors[:QUOTED_ERRORS]:
        text = f"{error.get('path') or '(body)'}: {error.get('message', '')}"
        if len(text) > QUOTED_ERROR_CHARS:
            text = text[: QUOTED_ERROR_CHARS - 1] + "…"
        quoted.append(text)
    if len(errors) > QUOTED_ERRORS:
        quoted.append(f"and {len(errors) - QUOTED_ERRORS} more")
    return "; ".join(quoted)
