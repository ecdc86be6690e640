"""Draw grids: the HTML table ipythonblocks itself draws, SVG thumbnails, highlighted code.

Every number written here was validated as an integer, and all text goes through an escaper
(pygments for code, Jinja's autoescape in the templates), so no user input reaches the page raw.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from markupsafe import Markup, escape
from PIL import Image, ImageDraw
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

THUMBNAIL_PX = 160
# A thumbnail samples at most this many blocks along each side.
THUMBNAIL_MAX_BLOCKS = 48

_CODE_FORMATTER = HtmlFormatter(cssclass="highlight")
_PYTHON = PythonLexer()


def _number(value: Any, low: int, high: int) -> int:
    """`value` if it is an integer in [low, high], else `low`: stored data is redrawn from
    numbers only, so a row written straight into the database cannot put markup on a page."""
    return value if type(value) is int and low <= value <= high else low


def _blocks(grid_data: Any) -> list[list[tuple[int, int, int, int]]]:
    """The blocks of stored grid data as validated numbers (anything else drawn as black)."""
    rows = grid_data.get("blocks") if isinstance(grid_data, dict) else None
    drawn = []
    for row in rows if isinstance(rows, list) else []:
        cells = []
        for block in row if isinstance(row, list) else []:
            r, g, b, size = [*block, 0, 0, 0, 0][:4] if isinstance(block, list) else [0] * 4
            cells.append(
                (_number(r, 0, 255), _number(g, 0, 255), _number(b, 0, 255), _number(size, 1, 100))
            )
        drawn.append(cells)
    return drawn


def grid_table(grid_data: dict[str, Any]) -> Markup:
    """The grid as ipythonblocks' `_repr_html_` draws it: one table cell per block."""
    rows = []
    for row_index, row in enumerate(_blocks(grid_data)):
        cells = "".join(
            f'<td title="Index: [{row_index}, {col}]&#10;Color: ({r}, {g}, {b})" '
            f'style="width: {size}px; height: {size}px; background-color: rgb({r}, {g}, {b});">'
            "</td>"
            for col, (r, g, b, size) in enumerate(row)
        )
        rows.append(f"<tr>{cells}</tr>")
    lines = "lines-on" if grid_data.get("lines_on") is not False else "lines-off"
    return Markup(f'<table class="blockgrid {lines}"><tbody>{"".join(rows)}</tbody></table>')


def _sample(count: int, limit: int) -> list[int]:
    """Evenly spaced indexes, at most `limit` of them, covering 0..count-1."""
    if count <= limit:
        return list(range(count))
    return [index * count // limit for index in range(limit)]


def thumbnail_svg(grid_data: dict[str, Any]) -> str:
    """A small SVG of the grid: one square per sampled block, equal runs merged into one rect."""
    blocks = grid_data["blocks"]
    rows = _sample(grid_data["height"], THUMBNAIL_MAX_BLOCKS)
    cols = _sample(grid_data["width"], THUMBNAIL_MAX_BLOCKS)
    width, height = len(cols), len(rows)
    scale = THUMBNAIL_PX / max(width, height)
    rects = []
    for y, row_index in enumerate(rows):
        row = blocks[row_index]
        x = 0
        while x < width:
            colour = row[cols[x]][:3]
            run = 1
            while x + run < width and row[cols[x + run]][:3] == colour:
                run += 1
            rects.append(
                f'<rect x="{x}" y="{y}" width="{run}" height="1" '
                f'fill="rgb({colour[0]},{colour[1]},{colour[2]})"/>'
            )
            x += run
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{round(width * scale)}" height="{round(height * scale)}" '
        f'viewBox="0 0 {width} {height}" shape-rendering="crispEdges">'
        f"{''.join(rects)}</svg>"
    )


# Largest PNG drawn, in pixels: bigger grids are drawn with smaller blocks (at least 1 px).
MAX_IMAGE_PIXELS = 8_000_000
# The colour of grid lines in PNGs (ipythonblocks draws white ones, which vanish on white pages).
LINE_GREY = (200, 200, 200)


def _image_block_size(width: int, height: int, block_size: int, lines: int) -> int:
    """`block_size`, or the largest smaller one that keeps the image within MAX_IMAGE_PIXELS."""
    size = block_size
    while size > 1 and (width * (size + lines) + lines) * (height * (size + lines) + lines) > (
        MAX_IMAGE_PIXELS
    ):
        size -= 1
    return size


def grid_png(grid_data: dict[str, Any]) -> bytes:
    """The grid as ipythonblocks' `BlockGrid.save_image` draws it: blocks of the grid's block
    size and, with lines on, a 1 px line around and between them (grey here). Drawn at one pixel
    per block, then scaled up, so a quarter of a million blocks take milliseconds."""
    width, height, blocks = grid_data["width"], grid_data["height"], grid_data["blocks"]
    lines = 1 if grid_data["lines_on"] else 0
    size = _image_block_size(width, height, blocks[0][0][3], lines)
    pixels = bytes(channel for row in blocks for block in row for channel in block[:3])
    small = Image.frombytes("RGB", (width, height), pixels)
    step = size + lines
    scaled = small.resize((width * step, height * step), Image.Resampling.NEAREST)
    if not lines:
        image = scaled
    else:
        image = Image.new("RGB", (width * step + 1, height * step + 1), LINE_GREY)
        image.paste(scaled, (1, 1))
        draw = ImageDraw.Draw(image)
        for col in range(width + 1):
            draw.line([(col * step, 0), (col * step, height * step)], fill=LINE_GREY)
        for row in range(height + 1):
            draw.line([(0, row * step), (width * step, row * step)], fill=LINE_GREY)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


# Pygments' Python lexer is quadratic on some inputs (long runs of whitespace and newlines, an
# unclosed triple quote): a cell longer than this is shown plain, and all of one grid's cells get
# this much CPU time between them; cells past the budget are shown plain too.
HIGHLIGHT_MAX_CELL_CHARS = 10_000
HIGHLIGHT_BUDGET_SECONDS = 0.5
# The highlighted code of recently viewed grids, at most this many characters of HTML in all.
CODE_CACHE_CHARS = 64 * 1024 * 1024


class _OverBudget(Exception):
    pass


def _tokens_until(source: str, deadline: float) -> Iterator[tuple[Any, str]]:
    """The lexer's tokens, stopping with `_OverBudget` once `deadline` has passed. Pygments lexes
    lazily, so the check runs between tokens, and no single token takes long."""
    for token in _PYTHON.get_tokens(source):
        if time.monotonic() > deadline:
            raise _OverBudget
        yield token


def plain_code(source: str) -> Markup:
    """Source shown as it is, escaped, in the same markup as highlighted code."""
    return Markup(f'<div class="highlight"><pre><span></span>{escape(source)}</pre></div>')


def highlighted_code(source: str, deadline: float | None = None) -> Markup:
    """Python source as escaped, pygments-highlighted HTML; plain (escaped) when it is longer than
    `HIGHLIGHT_MAX_CELL_CHARS` or highlighting it runs past `deadline` (a `time.monotonic()`).
    CPU-heavy: call it off the event loop."""
    if len(source) > HIGHLIGHT_MAX_CELL_CHARS:
        return plain_code(source)
    if deadline is None:
        deadline = time.monotonic() + HIGHLIGHT_BUDGET_SECONDS
    try:
        tokens = list(_tokens_until(source, deadline))
    except _OverBudget:
        return plain_code(source)
    html = io.StringIO()
    _CODE_FORMATTER.format(tokens, html)
    return Markup(html.getvalue())


_JSON = json.JSONDecoder()
_SPACE = re.compile(r"\s*")


def code_cells_from_json(text: str | None) -> list[str]:
    """Stored code cells (a JSON list of strings, or null) decoded one cell at a time: one
    `json.loads` of the largest allowed code (20 MB) holds the GIL for a quarter of a second,
    one cell (100,000 characters) for about a millisecond, so other threads run in between."""
    if text is None:
        return []
    position = _SPACE.match(text).end()  # type: ignore[union-attr]
    if text.startswith("null", position):
        return []
    if not text.startswith("[", position):
        raise ValueError("stored code cells are not a JSON list")
    cells: list[str] = []
    position = _SPACE.match(text, position + 1).end()  # type: ignore[union-attr]
    while not text.startswith("]", position):
        cell, position = _JSON.raw_decode(text, position)
        cells.append(cell)
        position = _SPACE.match(text, position).end()  # type: ignore[union-attr]
        if text.startswith(",", position):
            position = _SPACE.match(text, position + 1).end()  # type: ignore[union-attr]
    return cells


class CodeCache:
    """Highlighted code cells per grid of one database, least recently used dropped first,
    bounded by the total length of the HTML held. Grids never change, so an entry never goes
    stale; row ids are never reused, so a deleted grid's entry is never shown for another."""

    def __init__(self, max_chars: int = CODE_CACHE_CHARS) -> None:
        self.max_chars = max_chars
        self._entries: OrderedDict[int, tuple[list[Markup], int]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def get(self, row_id: int) -> list[Markup] | None:
        with self._lock:
            entry = self._entries.get(row_id)
            if entry is None:
                return None
            self._entries.move_to_end(row_id)
            return entry[0]

    def put(self, row_id: int, cells: list[Markup]) -> None:
        size = sum(len(cell) for cell in cells)
        if size > self.max_chars:
            return
        with self._lock:
            if row_id in self._entries:
                return
            self._entries[row_id] = (cells, size)
            self._chars += size
            while self._chars > self.max_chars:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._chars -= dropped

    def code(self, row_id: int, code_json: str | None) -> list[Markup]:
        """The code cells of grid `row_id` (stored as `code_json`) as HTML: highlighted within
        one time budget for all of them, then kept. CPU-heavy the first time: call it off the
        event loop."""
        found = self.get(row_id)
        if found is not None:
            return found
        deadline = time.monotonic() + HIGHLIGHT_BUDGET_SECONDS
        drawn = [highlighted_code(cell, deadline) for cell in code_cells_from_json(code_json)]
        self.put(row_id, drawn)
        return drawn


# The CSS for `highlighted_code`: static text from pygments, without its comments.
CODE_STYLE = re.sub(r"\s*/\*.*?\*/", "", _CODE_FORMATTER.get_style_defs(".highlight"))
