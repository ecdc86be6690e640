"""Draw grids: the HTML table ipythonblocks itself draws, SVG thumbnails, highlighted code.

Every number written here was validated as an integer, and all text goes through an escaper
(pygments for code, Jinja's autoescape in the templates), so no user input reaches the page raw.
"""

from __future__ import annotations

import io
import re
from typing import Any

from markupsafe import Markup
from PIL import Image, ImageDraw
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


def highlighted_code(source: str) -> Markup:
    """Python source as escaped, pygments-highlighted HTML."""
    return Markup(highlight(source, _PYTHON, _CODE_FORMATTER))


# The CSS for `highlighted_code`: static text from pygments, without its comments.
CODE_STYLE = re.sub(r"\s*/\*.*?\*/", "", _CODE_FORMATTER.get_style_defs(".highlight"))
