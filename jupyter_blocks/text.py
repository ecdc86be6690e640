"""One rule for every text we store: what SQLite, PostgreSQL and the page encoder can all hold.

Text reaches the database from request payloads (titles, code cells, versions), from identity
providers (author names) and from `jupyter blocks import/copy`. PostgreSQL refuses NUL characters
in text and JSON, and a lone surrogate (valid in a Python str, never in UTF-8) breaks every
encoder after it. Such text is refused where it enters, with the field named, never stored.
"""

from __future__ import annotations


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored, or None when it can."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (it holds a lone surrogate)"
    return None
