"""Draw grids: the HTML table ipythonblocks itself draws, a canvas for big grids, SVG
thumbnails, highlighted code.

Every number written here was validated as an integer, and all text goes through an escaper
(pygments for code, Jinja's autoescape in the templates), so no user input reaches the page raw.
"""

from __future__ import annotations

import base64
import io
import re
import struct
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cache
from itertools import chain
from typing import Any

from cachetools import LRUCache
from isal import isal_zlib
from markupsafe import Markup, escape

THUMBNAIL_PX = 160
# A thumbnail samples at most this many blocks along each side.
THUMBNAIL_MAX_BLOCKS = 48


# Grids of up to this many blocks are drawn as ipythonblocks draws them, a table cell per block
# (with its index and colour as a tooltip); bigger ones on a canvas, by static/grid.js, from
# their packed pixels: the page of a 500x500 grid is as small as any other.
TABLE_MAX_CELLS = 2_500
# A canvas bigger than this on either side takes too much memory: its blocks are drawn smaller.
CANVAS_MAX_PX = 4_096
# The blocks are stored as a zlib stream (RFC 1950) made by ISA-L at its level 1: as small as
# zlib's level 1 on block data in a fraction of its time, and every post compresses its blocks.
PIXELS_COMPRESSION = 1
# Setting level 1 up is most of its work on a small grid: grids of up to this many blocks are
# compressed at ISA-L's level 0, which starts at once, for a slightly bigger stream.
PIXELS_QUICK_MAX_BLOCKS = 1_024
# Posted blocks are packed by Pillow from grids of this many blocks (see validated_block_bytes).
PILLOW_MIN_BLOCKS = 256


def block_bytes(blocks: Sequence[Sequence[Sequence[int]]]) -> bytes:
    """The blocks as bytes: red, green, blue, size per block, rows top first. A value that is
    not an integer from 0 to 255 raises ValueError or TypeError (stored data is not trusted)."""
    return bytes(chain.from_iterable(chain.from_iterable(blocks)))


def validated_block_bytes(
    width: int, height: int, blocks: Sequence[Sequence[tuple[int, int, int, int]]]
) -> bytes:
    """`block_bytes` of blocks validated to be `height` rows of `width` tuples of integers from
    0 to 255, read by Pillow in C (red, green, blue, size as RGBA) rather than in Python, except
    for the smallest grids, where making an image takes longer than reading their few blocks."""
    if width * height < PILLOW_MIN_BLOCKS:
        return block_bytes(blocks)
    from PIL import Image  # (loaded when a grid is first drawn)

    image = Image.new("RGBA", (width, height))
    image.putdata(list(chain.from_iterable(blocks)))
    return image.tobytes()


def compress_pixels(flat: bytes) -> bytes:
    """Blocks as `block_bytes` makes them, compressed as they are stored."""
    quick = len(flat) <= 4 * PIXELS_QUICK_MAX_BLOCKS
    return isal_zlib.compress(flat, 0 if quick else PIXELS_COMPRESSION)


def pack_pixels(blocks: Sequence[Sequence[Sequence[int]]]) -> bytes:
    """The blocks as stored: `block_bytes`, compressed. Made once when a grid is stored."""
    return compress_pixels(block_bytes(blocks))


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
        # a list, not a generator (join makes one first anyway), and the blocks unpacked in C:
        # this runs once per block of every page that shows a table
        cells = "".join(
            [
                f'<td title="Index: [{row_index}, {col}]&#10;Color: ({r}, {g}, {b})" '
                f'style="width: {size}px; height: {size}px; background-color: rgb({r}, {g}, {b});">'
                "</td>"
                for col, (r, g, b, size) in enumerate(struct.iter_unpack("4B", row))
            ]
        )
        rows.append(f"<tr>{cells}</tr>")
    return Markup(f'<table class="blockgrid {lines}"><tbody>{"".join(rows)}</tbody></table>')


def _sample(count: int, limit: int) -> list[int]:
    """Evenly spaced indexes, at most `limit` of them, covering 0..count-1."""
    if count <= limit:
        return list(range(count))
    return [index * count // limit for index in range(limit)]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack("!I", len(data))
        + kind
        + data
        + struct.pack("!I", zlib.crc32(data, zlib.crc32(kind)))
    )


def rgb_png(width: int, height: int, rgb: bytes) -> bytes:
    """A PNG of `rgb` (8-bit red, green, blue per pixel, rows top first), no filter. Written
    here because on images as small as a thumbnail Pillow's PNG writer spends its time in Python
    plumbing, not in zlib."""
    row = 3 * width
    scanlines = b"".join(b"\0" + rgb[y * row : (y + 1) * row] for y in range(height))
    header = struct.pack("!IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(scanlines))
        + _png_chunk(b"IEND", b"")
    )


def _rows(blocks: bytes, row_bytes: int, indexes: list[int]) -> bytes:
    return b"".join(blocks[index * row_bytes : (index + 1) * row_bytes] for index in indexes)


def thumbnail_svg(width: int, height: int, blocks: bytes) -> str:
    """A small SVG of the grid (`blocks`: as `block_bytes` packs them): a PNG of one pixel per
    sampled block, scaled up without smoothing: its size is bounded by the sample, not the grid,
    where a rect per block grew with the grid, in bytes and in time to draw."""
    rows, cols = _sample(height, THUMBNAIL_MAX_BLOCKS), _sample(width, THUMBNAIL_MAX_BLOCKS)
    sampled_rows = blocks if len(rows) == height else _rows(blocks, 4 * width, rows)
    from PIL import Image  # (loaded when a grid is first drawn)

    image = Image.frombytes("RGBA", (width, len(rows)), sampled_rows)
    if len(cols) < width:
        # the sampled columns, picked as rows of the transposed image
        across = image.transpose(Image.Transpose.TRANSPOSE).tobytes()
        picked = _rows(across, 4 * len(rows), cols)
        image = Image.frombytes("RGBA", (len(rows), len(cols)), picked)
        image = image.transpose(Image.Transpose.TRANSPOSE)
    # the size of each block rides in the alpha channel: dropped
    png = rgb_png(len(cols), len(rows), image.convert("RGB").tobytes())
    scale = THUMBNAIL_PX / max(len(cols), len(rows))
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{round(len(cols) * scale)}" height="{round(len(rows) * scale)}" '
        f'viewBox="0 0 {len(cols)} {len(rows)}">'
        f'<image width="{len(cols)}" height="{len(rows)}" style="image-rendering:pixelated" '
        f'href="data:image/png;base64,{base64.b64encode(png).decode()}"/></svg>'
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
    then scaled up by Pillow, so no Python code runs per block, however big the grid."""
    blocks = zlib.decompress(pixels)
    lines = 1 if lines_on else 0
    size = _image_block_size(width, height, max(1, blocks[3]), lines)
    # red, green, blue and size per block: read as RGBA, then the size channel dropped
    from PIL import Image, ImageDraw  # (loaded when a grid is first drawn)

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


# Pygments' Python lexer is quadratic on some inputs (long runs of whitespace and newlines, an
# unclosed triple quote): a cell longer than this is shown plain, and all of one grid's cells get
# this much CPU time between them; cells past the budget are shown plain too.
HIGHLIGHT_MAX_CELL_CHARS = 10_000
HIGHLIGHT_BUDGET_SECONDS = 0.5
# A page shows at most this many characters of a grid's code (a grid may store far more: see
# `max_code_cells` and `max_code_cell_chars`); the rest is in the grid's JSON record.
PAGE_CODE_CHARS = 100_000
# The highlighted code of recently viewed grids, at most this many characters of HTML in all.
CODE_CACHE_CHARS = 64 * 1024 * 1024
CODE_CACHE_ENTRY_CHARS = 512


class _OverBudget(Exception):
    pass


def _tokens_until(source: str, deadline: float) -> Iterator[tuple[Any, str]]:
    """The lexer's tokens, stopping with `_OverBudget` once `deadline` has passed. Pygments lexes
    lazily, so the check runs between tokens, and no single token takes long."""
    for token in _highlighter()[0].get_tokens(source):
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
    _highlighter()[1].format(tokens, html)
    return Markup(html.getvalue())


@dataclass(frozen=True)
class PageCode:
    """The part of a grid's code its page shows: the first `cells` within the page's budget of
    characters (the last one maybe cut short), out of `total_cells` holding `total_chars`."""

    cells: list[str]
    total_cells: int
    total_chars: int
    shown_chars: int

    @property
    def hidden_chars(self) -> int:
        return self.total_chars - self.shown_chars


def _chars_held(code: PageCode) -> int:
    """What a `CodeCache` entry counts for: its characters, and a floor for the memory an entry
    takes even with no code."""
    return CODE_CACHE_ENTRY_CHARS + sum(len(cell) for cell in code.cells)


class CodeCache:
    """Highlighted page code per grid of one database, least recently used dropped first,
    bounded by the total length of the HTML held. Grids never change, so an entry never goes
    stale; row ids are never reused, so a deleted grid's entry is never shown for another."""

    def __init__(self, max_chars: int = CODE_CACHE_CHARS) -> None:
        self._entries: LRUCache[int, PageCode] = LRUCache(max_chars, getsizeof=_chars_held)
        # pages are drawn on several threads; a cachetools cache is not thread-safe
        self._lock = threading.Lock()

    def get(self, row_id: int) -> PageCode | None:
        with self._lock:
            return self._entries.get(row_id)

    def put(self, row_id: int, code: PageCode) -> None:
        if _chars_held(code) > self._entries.maxsize:
            return
        with self._lock:
            self._entries.setdefault(row_id, code)

    def highlighted(self, row_id: int, code: PageCode) -> PageCode:
        """The `code` of grid `row_id` with its cells as HTML: highlighted within one time
        budget for all of them, then kept. CPU-heavy the first time: call it off the event
        loop."""
        found = self.get(row_id)
        if found is not None:
            return found
        deadline = time.monotonic() + HIGHLIGHT_BUDGET_SECONDS
        drawn = replace(code, cells=[highlighted_code(cell, deadline) for cell in code.cells])
        self.put(row_id, drawn)
        return drawn


# The CSS for `highlighted_code`: static text from pygments, without its comments.
_LOADING_PYGMENTS = threading.Lock()


@cache
def _highlighter() -> tuple[Any, Any]:
    """Pygments' Python lexer and HTML formatter, loaded when a page first needs them (Pygments
    takes memory in every user's server, most of which never shows a page). Under a lock, from
    their own modules: pages are drawn on several threads, and `pygments.formatters` replaces
    itself in `sys.modules` while it is first imported, so a second thread importing it then
    finds no `HtmlFormatter`."""
    with _LOADING_PYGMENTS:
        from pygments.formatters.html import HtmlFormatter
        from pygments.lexers.python import PythonLexer

        return PythonLexer(), HtmlFormatter(cssclass="highlight")


@cache
def code_style() -> str:
    """The style sheet of highlighted code, without its comments."""
    return re.sub(r"\s*/\*.*?\*/", "", _highlighter()[1].get_style_defs(".highlight"))
