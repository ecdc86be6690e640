"""Draw grids: the HTML table ipythonblocks itself draws, SVG thumbnails, highlighted code.

Every number written here was validated as an integer, and all text goes through an escaper
(pygments for code, Jinja's autoescape in the templates), so no user input reaches the page raw.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup
from pygments import highlight
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
            r, g, b, size = (list(block) + [0, 0, 0, 0])[:4] if isinstance(block, list) else [0] * 4
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


def highlighted_code(source: str) -> Markup:
    """Python source as escaped, pygments-highlighted HTML."""
    return Markup(highlight(source, _PYTHON, _CODE_FORMATTER))


# The CSS for `highlighted_code`: static text from pygments, without its comments.
CODE_STYLE = re.sub(r"\s*/\*.*?\*/", "", _CODE_FORMATTER.get_style_defs(".highlight"))
