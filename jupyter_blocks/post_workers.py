"""Posts checked, drawn and stored in worker processes: in `jupyter blocks serve` only.

The gallery service serves a whole class from one process. Parsing and checking a post's body
holds the GIL (for milliseconds, for a big grid), and in the service's own threads that holds up
its event loop and every other request. Here each post is one call submitted to a standard
`concurrent.futures.ProcessPoolExecutor` (forkserver context; its initializer opens the worker's
engine) and answered through that call's own future, so a post gets its own grid, never another's.

- A worker that dies breaks the pool (`BrokenProcessPool`): the posts it had answer "outcome
  unknown" and the next post makes a new pool.
- A post not answered within its deadline means a worker is wedged: the pool is torn down (its
  workers killed) and a new one made, and the post answers "outcome unknown". A retry with the
  same `Idempotency-Key` settles whether it was stored.

A user's own server never starts these processes: it stores posts on its own threads (`db`).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from . import db, service
from .ids import GridIds
from .validation import InvalidPayload, Limits, PayloadValidator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker needs: where the grids are, the limits, and the ids (a post names the grid
    it remixes by id)."""

    db_url: str
    limits: Limits
    salt: str
    id_min_length: int


class PostWorkers:
    """The post workers of one gallery service."""

    def __init__(self, settings: WorkerSettings, processes: int) -> None:
        self._settings = settings
        self._processes = processes
        self._pool: ProcessPoolExecutor | None = None

    def _current_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self._processes,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=_start_worker,
                initargs=(self._settings,),
            )
        return self._pool

    async def store(
        self, body: bytes, author: str, idempotency_key: str | None, deadline: float
    ) -> service.StoredGrid:
        """Check `body` and store it for `author` in a worker: the stored grid, or
        InvalidPayload, service.UnknownParent, db.OutcomeUnknown (dead or wedged worker), or
        the database's error when it is unavailable."""
        pool = self._current_pool()
        try:
            work = pool.submit(_store, body, author, idempotency_key)
            outcome = await asyncio.wait_for(asyncio.wrap_future(work), deadline)
        except BrokenProcessPool as error:
            self._replace(pool, "a post worker stopped")
            raise db.OutcomeUnknown() from error
        except asyncio.TimeoutError as error:
            self._replace(pool, f"a post was not stored within {deadline:g} s", kill=True)
            raise db.OutcomeUnknown() from error
        kind, *rest = outcome
        if kind == "stored":
            grid: service.StoredGrid = rest[0]
            return grid
        if kind == "refused":
            raise InvalidPayload(rest[0], rest[1])
        if kind == "unknown parent":
            raise service.UnknownParent()
        if kind == "unavailable":
            raise db.DatabaseUnavailable(rest[0])
        raise RuntimeError("a post worker failed on a post: see the service's log")

    def _replace(self, pool: ProcessPoolExecutor, why: str, kill: bool = False) -> None:
        """Tear `pool` down (once, however many posts it failed); the next post makes anew."""
        if self._pool is not pool:
            return
        log.warning("jupyter-blocks: %s; starting new post workers", why)
        self._pool = None
        if kill:
            # A wedged worker cannot be asked to stop. (Python 3.14 has `kill_workers()`.)
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# In each worker process.


@dataclass
class _Worker:
    validator: PayloadValidator
    ids: GridIds
    sessions: sessionmaker[Session]


_worker: _Worker | None = None


def _start_worker(settings: WorkerSettings) -> None:
    """The pool's initializer: Ctrl-C in the service's terminal reaches the workers too (the
    service stops them); each opens its engine, with one connection."""
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    engine = db.create_engine(settings.db_url, pool_size=1)
    _worker = _Worker(
        PayloadValidator(settings.limits),
        GridIds(settings.salt, settings.id_min_length),
        sessionmaker(engine, expire_on_commit=False),
    )


def _store(body: bytes, author: str, idempotency_key: str | None) -> tuple[Any, ...]:
    """One post, in a worker: its outcome as plain values (exceptions with arguments of their
    own do not cross processes as they are)."""
    assert _worker is not None, "the pool's initializer ran"
    try:
        new = _worker.validator.validate(body)
        parent_key = None
        if new.parent is not None:
            parent_key = _worker.ids.decode(new.parent)
            if parent_key is None:
                return ("unknown parent",)
        with db.session_context(_worker.sessions) as session:
            grid = service.store_post(session, new, author, idempotency_key, parent_key)
            if not grid.secret:
                service.announce(session, "p", grid.id)
    except InvalidPayload as refusal:
        return ("refused", refusal.message, refusal.errors)
    except service.UnknownParent:
        return ("unknown parent",)
    except Exception as error:
        if db.unavailable(error):
            return ("unavailable", str(getattr(error, "orig", None) or error))
        log.exception("jupyter-blocks: a post worker failed on a post")
        return ("failed",)
    return ("stored", grid)
