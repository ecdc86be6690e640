"""What a valid post stores besides its JSON: the packed pixels and the SVG thumbnail. Stored
rows and served pages depend on both, so however they are made, they stay what they were: the
pixels decompress to red, green, blue, size per block, rows top first, and the thumbnail shows
the blocks that `reference_sample` below picks (all of them, up to 48 a side), a pixel each."""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_blocks.render import block_bytes, pack_pixels
from jupyter_blocks.validation import Limits, PayloadValidator
from tests.utils import drawn_thumbnail, make_payload

VALIDATOR = PayloadValidator(Limits())


def reference_sample(width: int, height: int, blocks: Sequence[Sequence[Sequence[int]]]) -> Any:
    """The thumbnail's pixels as jupyter-blocks first sampled them (evenly spaced rows and
    columns, at most 48 of each), and its size on the page (160 px on the longer side)."""

    def sample(count: int) -> list[int]:
        return list(range(count)) if count <= 48 else [i * count // 48 for i in range(48)]

    rows, cols = sample(height), sample(width)
    pixels = bytes(value for row in rows for col in cols for value in blocks[row][col][:3])
    scale = 160 / max(len(cols), len(rows))
    return (len(cols), len(rows)), pixels, (round(len(cols) * scale), round(len(rows) * scale))


def random_blocks(width: int, height: int, colours: int, seed: int) -> list[list[list[int]]]:
    """Blocks of `colours` random colours (few: long runs; many: none) and random sizes."""
    chance = random.Random(seed)
    palette = [[chance.randrange(256) for _ in range(3)] for _ in range(colours)]
    return [
        [[*chance.choice(palette), chance.randint(1, 100)] for _ in range(width)]
        for _ in range(height)
    ]


def stored_forms(blocks: list[list[list[int]]]) -> Any:
    width, height = len(blocks[0]), len(blocks)
    body = json.dumps(make_payload(width, height, blocks)).encode()
    return VALIDATOR.validate(body)


def flat(blocks: list[list[list[int]]]) -> bytes:
    return bytes(value for row in blocks for block in row for value in block)


@settings(max_examples=150, deadline=None)
@given(
    width=st.integers(1, 120),
    height=st.integers(1, 120),
    colours=st.sampled_from([1, 2, 3, 50, 1000]),
    seed=st.integers(0, 2**32),
)
def test_a_valid_grid_stores_its_blocks_packed_and_a_thumbnail_of_them(
    width: int, height: int, colours: int, seed: int
) -> None:
    blocks = random_blocks(width, height, colours, seed)
    new = stored_forms(blocks)
    assert zlib.decompress(new.pixels) == flat(blocks)
    assert drawn_thumbnail(new.thumbnail_svg) == reference_sample(width, height, blocks)
    assert (
        new.grid_json
        == msgspec.json.encode(
            {"lines_on": True, "width": width, "height": height, "blocks": blocks}
        ).decode()
    )


@pytest.mark.parametrize(
    "width,height",
    [(1, 1), (1, 250_000), (250_000, 1), (48, 48), (49, 49), (500, 500)],
    ids=["one-block", "one-column", "one-row", "unsampled", "sampled", "largest"],
)
def test_the_extreme_shapes_store_the_same_forms(width: int, height: int) -> None:
    blocks = random_blocks(width, height, 3, seed=width * height)
    new = stored_forms(blocks)
    assert zlib.decompress(new.pixels) == flat(blocks)
    assert drawn_thumbnail(new.thumbnail_svg) == reference_sample(width, height, blocks)


def test_a_thumbnail_is_a_small_picture_of_its_blocks() -> None:
    red, green, blue = [255, 0, 0, 10], [0, 255, 0, 1], [0, 0, 255, 99]
    new = stored_forms([[red, red, blue], [green, blue, blue]])
    assert drawn_thumbnail(new.thumbnail_svg) == (
        (3, 2),
        bytes([255, 0, 0, 255, 0, 0, 0, 0, 255, 0, 255, 0, 0, 0, 255, 0, 0, 255]),
        (160, 107),
    )
    # a picture of the largest grid is still small: a row per sampled block would be ~150 kB
    largest = stored_forms(random_blocks(500, 500, 1000, seed=7))
    assert len(largest.thumbnail_svg) < 16_000


@pytest.mark.parametrize(
    "blocks",
    [[[[256, 0, 0, 1]]], [[[-1, 0, 0, 1]]], [[["1", 0, 0, 1]]], [[[0.5, 0, 0, 1]]]],
    ids=["over-255", "negative", "text", "number"],
)
def test_packing_stored_blocks_refuses_values_that_are_not_bytes(blocks: Any) -> None:
    """Blocks read back from a row written straight into the database are not trusted:
    `service` draws them black when packing them fails."""
    with pytest.raises((ValueError, TypeError)):
        pack_pixels(blocks)
    with pytest.raises((ValueError, TypeError)):
        block_bytes(blocks)


def test_stored_blocks_pack_as_posted_ones_do() -> None:
    blocks = random_blocks(30, 20, 5, seed=3)
    assert zlib.decompress(pack_pixels(blocks)) == flat(blocks)
