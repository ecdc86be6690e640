"""Answers of recent database reads, reused for a few seconds: a class opening the grid its
teacher shared, or a gallery page everyone reloads, costs the database one read a few seconds.

Two kinds of answers are kept, each for at most `seconds` after it was read:
- a grid's own data (its JSON, thumbnail, pixels), which never changes while the grid exists;
- views of several grids (a page, which shows its title, parent and remixes; a listing).

This server's own writes make it forget at once what they change: a delete the grid's data, and
every write the views. What other servers on the same database write (a JupyterHub service's
replicas, servers sharing one PostgreSQL) is seen within `seconds`. A read that was under way
while a write happened is not kept, so it cannot bring back what the write made stale. Requests
for what is being read already share that read.
Used on the event loop's thread only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from cachetools import TTLCache

from .ids import GridKey

T = TypeVar("T")

# All answers kept take at most this many bytes (as counted by `size`), and none bigger than
# MAX_ENTRY_BYTES is kept: a big grid's data costs more to send than to read.
MAX_BYTES = 32 * 1024 * 1024
MAX_ENTRY_BYTES = 1024 * 1024
# What an answer costs besides its bytes (the key, the entry): a floor, so that many small
# answers cannot exceed the bound either.
ENTRY_OVERHEAD_BYTES = 256


def _size_of(value: Any) -> int:
    """The bytes a kept answer holds: the length of the strings and bytes it is or holds."""
    parts = value if isinstance(value, tuple) else (value,)
    return ENTRY_OVERHEAD_BYTES + sum(len(part) for part in parts if isinstance(part, (str, bytes)))


class ReadCache:
    def __init__(self, seconds: float, max_bytes: int = MAX_BYTES) -> None:
        self.seconds = seconds
        self._grids: TTLCache[tuple[str, GridKey], Any] = self._cache(max_bytes // 2)
        self._views: TTLCache[Hashable, Any] = self._cache(max_bytes // 2)
        # The kinds of grid data kept (what a delete forgets), and a count of writes: an answer
        # read across one is not kept.
        self._kinds: set[str] = set()
        self._writes = 0
        # the reads under way, by cache and key
        self._reading: dict[tuple[int, Hashable], asyncio.Future[Any]] = {}

    def _cache(self, max_bytes: int) -> TTLCache[Any, Any]:
        return TTLCache(max(max_bytes, 1), max(self.seconds, 1e-9), getsizeof=self._size)

    @staticmethod
    def _size(entry: tuple[Any, int]) -> int:
        return entry[1]

    async def grid(
        self,
        kind: str,
        key: GridKey,
        read: Callable[[], Awaitable[T | None]],
        size: Callable[[T], int] = _size_of,
    ) -> T | None:
        """The grid's `kind` of data (`read()` when not kept; None when there is no such grid),
        which never changes while the grid exists."""
        self._kinds.add(kind)
        return await self._through(self._grids, (kind, key), read, size)

    async def view(
        self,
        key: Hashable,
        read: Callable[[], Awaitable[T | None]],
        size: Callable[[T], int] = _size_of,
    ) -> T | None:
        """A view of several grids (`read()` when not kept; None when there is none), which
        any write may change."""
        return await self._through(self._views, key, read, size)

    async def _through(
        self,
        cache: TTLCache[Any, Any],
        key: Hashable,
        read: Callable[[], Awaitable[T | None]],
        size: Callable[[T], int],
    ) -> T | None:
        if self.seconds <= 0:
            return await read()
        kept = cache.get(key)
        if kept is not None:
            value: T = kept[0]
            return value
        # Requests for what is being read already wait for that read: a class opening one big
        # grid at once holds it in memory once, and reads it once.
        reading = self._reading.get((id(cache), key))
        if reading is None:
            reading = asyncio.ensure_future(
                self._read_and_keep(cache, key, read(), size, self._writes)
            )
            # an error is each waiting request's to answer, and no one else's to log
            reading.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._reading[id(cache), key] = reading
        found: T | None = await asyncio.shield(reading)
        return found

    async def _read_and_keep(
        self,
        cache: TTLCache[Any, Any],
        key: Hashable,
        reading: Awaitable[T | None],
        size: Callable[[T], int],
        writes: int,
    ) -> T | None:
        """`reading`, kept unless this server wrote since it was asked for (`writes`: how many
        times it had written then; the read itself starts a turn of the event loop later)."""
        try:
            value = await reading
        finally:
            if writes == self._writes:
                del self._reading[id(cache), key]
        if value is not None and writes == self._writes:
            # a key holds text from the request too (a searched author, the Host header)
            bytes_held = size(value) + _size_of(key)
            if bytes_held <= MAX_ENTRY_BYTES:
                cache[key] = (value, bytes_held)
        return value

    def wrote(self, deleted: GridKey | None = None) -> None:
        """This server stored, renamed or (`deleted`) deleted a grid: forget what that changes."""
        self._writes += 1
        self._reading.clear()  # reads from before the write: later requests read again
        self._views.clear()
        if deleted is not None:
            for kind in self._kinds:
                self._grids.pop((kind, deleted), None)
