"""Grid ids as users see them.

Public grids are shown as the hashid of their row id, as ipythonblocks.org did. Secret grids are
shown as the hashid of (row id, nonce), where the nonce is 48 random bits stored with the row: a
secret id cannot be guessed from the row id, even by someone who knows the salt.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import lru_cache

from hashids import Hashids

SECRET_NONCE_BITS = 48
# Row ids and nonces are stored as signed 64-bit integers; hashids can decode larger numbers.
_MAX_NUMBER = 2**63 - 1
# No id we hand out is anywhere near this long; longer strings are not decoded at all.
_MAX_ID_LENGTH = 64
# hashids is pure Python and a listing encodes dozens of ids per request; encoding and decoding
# are pure functions of the salt, so the most recent ones are remembered (short strings, and
# a bounded number of them).
_CACHED_IDS = 65_536


@dataclass(frozen=True)
class GridKey:
    """What an id decodes to: the row id, and for a secret grid its nonce."""

    row_id: int
    nonce: int | None = None

    @property
    def secret(self) -> bool:
        return self.nonce is not None


def new_secret_nonce() -> int:
    return secrets.randbits(SECRET_NONCE_BITS)


class GridIds:
    """Encodes and decodes public and secret grid ids with one salted hashids codec."""

    def __init__(self, salt: str, min_length: int = 6) -> None:
        self.salt, self.min_length = salt, min_length
        self._hashids = Hashids(salt=salt, min_length=min_length)
        self._encode = lru_cache(maxsize=_CACHED_IDS)(self._hashids.encode)
        self._decode = lru_cache(maxsize=_CACHED_IDS)(self._hashids.decode)

    def public(self, row_id: int) -> str:
        return str(self._encode(row_id))

    def secret(self, row_id: int, nonce: int) -> str:
        return str(self._encode(row_id, nonce))

    def for_row(self, row_id: int, nonce: int | None) -> str:
        return self.public(row_id) if nonce is None else self.secret(row_id, nonce)

    def decode(self, grid_id: str) -> GridKey | None:
        """The key behind any id we issued, or None for anything else."""
        if not grid_id or len(grid_id) > _MAX_ID_LENGTH:
            return None
        numbers = self._decode(grid_id)
        if not numbers or any(n > _MAX_NUMBER for n in numbers):
            return None
        if len(numbers) == 1:
            return GridKey(numbers[0])
        if len(numbers) == 2:
            return GridKey(numbers[0], numbers[1])
        return None
