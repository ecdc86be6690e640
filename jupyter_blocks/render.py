"""Draw grids: the HTML table ipythonblocks itself draws, a canvas for big grids, SVG
thumbnails, highlighted code.

Every number written here was validated as an integer, and all text goes through an escaper
(pygments for code, Jinja's autoescape in the templates), so no user input reaches the page raw.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from typing import Any

from markupsafe import Markup, escape
from PIL import Image, ImageDraw
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

THUMBNAIL_PX = 160
# A thumbnail samples at most this many blocks along each side.
THUMBNAIL_MAX_BLOCKS = 48

_CODE_FORMATTER = HtmlFormatter(cssclass="highlight")
_PYTHON = PythonLexer()


# Grids of up to this many blocks are drawn as ipythonblocks draws them, a table cell per block
# (with its index and colour as a tooltip); bigger ones on a canvas, by static/grid.js, from
# their packed pixels: the page of a 500x500 grid is as small as any other.
TABLE_MAX_CELLS = 2_500
# A canvas bigger than this on either side takes too much memory: its blocks are drawn smaller.
CANVAS_MAX_PX = 4_096
# zlib level 1: nearly as small as the default level on block data, and half the time.
PIXELS_COMPRESSION = 1


def pack_pixels(blocks: Sequence[Sequence[Sequence[int]]]) -> bytes:
    """The blocks (validated) as zlib-compressed bytes: red, green, blue, size per block, rows
    top first. Made once when a grid is stored."""
    flat = bytes(chain.from_iterable(chain.from_iterable(blocks)))
    return zlib.compress(flat, PIXELS_COMPRESSION)


def grid_drawing(grid: Any, pixels_url: str, script_url: str) -> Markup:
    """The grid on a page: a table when small (from `grid.pixels`), else a canvas that the
    script at `script_url` sizes and draws from the pixels at `pixels_url` (already compressed,
    and cacheable: the page stays small)."""
    lines = "lines-on" if grid.lines_on else "lines-off"
    if grid.width * grid.height <= TABLE_MAX_CELLS:
        return grid_table(grid.width, lines, zlib.decompress(grid.pixels))
    return Markup(
        f'<canvas class="blockgrid {lines}" data-width="{grid.width}" '
        f'data-height="{grid.height}" data-max-px="{CANVAS_MAX_PX}" '
        f'data-lines-on="{str(grid.lines_on).lower()}" data-pixels-url="{escape(pixels_url)}" '
        f'role="img" aria-label="a grid of {grid.width}x{grid.height} blocks"></canvas>'
        f'<script src="{escape(script_url)}" defer></script>'
    )


def grid_table(width: int, lines: str, blocks: bytes) -> Markup:
    """The grid as ipythonblocks' `_repr_html_` draws it: one table cell per block."""
    rows = []
    row_bytes = width * 4
    for row_index in range(len(blocks) // row_bytes):
        row = blocks[row_index * row_bytes : (row_index + 1) * row_bytes]
        cells = "".join(
            f'<td title="Index: [{row_index}, {col}]&#10;Color: ({r}, {g}, {b})" '
            f'style="width: {size}px; height: {size}px; background-color: rgb({r}, {g}, {b});">'
            "</td>"
            for col, (r, g, b, size) in enumerate(zip(*[iter(row)] * 4, strict=True))
        )
        rows.append(f"<tr>{cells}</tr>")
    return Markup(f'<table class="blockgrid {lines}"><tbody>{"".join(rows)}</tbody></table>')


def _sample(count: int, limit: int) -> list[int]:
    """Evenly spaced indexes, at most `limit` of them, covering 0..count-1."""
    if count <= limit:
        return list(range(count))
    return [index * count // limit for index in range(limit)]


def thumbnail_svg(width: int, height: int, blocks: Sequence[Sequence[Sequence[int]]]) -> str:
    """A small SVG of the grid: one square per sampled block, equal runs merged into one rect."""
    rows = _sample(height, THUMBNAIL_MAX_BLOCKS)
    cols = _sample(width, THUMBNAIL_MAX_BLOCKS)
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


def grid_png(width: int, height: int, lines_on: bool, pixels: bytes) -> bytes:
    """The grid as ipythonblocks' `BlockGrid.save_image` draws it: blocks of the grid's block
    size and, with lines on, a 1 px line around and between them (grey here). Drawn from the
    packed pixels (bytes: numbers only, whatever the database holds) at one pixel per block,
    then scaled up, so a quarter of a million blocks take milliseconds."""
    blocks = zlib.decompress(pixels)
    lines = 1 if lines_on else 0
    size = _image_block_size(width, height, max(1, blocks[3]), lines)
    # red, green, blue and size per block: read as RGBA, then the size channel dropped
    small = Image.frombytes("RGBA", (width, height), blocks).convert("RGB")
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


# Highlighting takes a millisecond even for a line; pages show the same short cells again and
# again, so those are remembered (at most this many of at most this length: a few MB).
CACHED_CODE_CELLS = 2_048
CACHED_CODE_CHARS = 2_000


def highlighted_code(source: str) -> Markup:
    """Python source as escaped, pygments-highlighted HTML."""
    if len(source) <= CACHED_CODE_CHARS:
        return _highlighted_short_code(source)
    return Markup(highlight(source, _PYTHON, _CODE_FORMATTER))


@lru_cache(maxsize=CACHED_CODE_CELLS)
def _highlighted_short_code(source: str) -> Markup:
    return Markup(highlight(source, _PYTHON, _CODE_FORMATTER))


# The CSS for `highlighted_code`: static text from pygments, without its comments.
CODE_STYLE = re.sub(r"\s*/\*.*?\*/", "", _CODE_FORMATTER.get_style_defs(".highlight"))
