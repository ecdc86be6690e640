"""What the Hub says of a user, for moderation: are they an admin, which groups are they in.

The user model that comes with a request (`JupyterHubUser.hub_user`, from the token or OAuth
cookie) names the user, but the identity provider may have kept it for minutes and it does
not say whether they are an admin. So the gallery service asks the Hub with its own token
(role scope `read:users`) and keeps the Hub's answer, as the Hub gave it, for `CACHE_SECONDS`:
a moderator removed from the group or an admin demoted loses their rights that soon at most.

It fails closed: when the Hub cannot be reached or cannot say who the user is and which groups
they are in (an error, a timeout, a token without `read:users`, as on a user's own server),
the answer is None, which means no extra rights. Such an answer is not kept: the next request
asks the Hub again, so a moderator has their rights back as soon as the Hub answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from cachetools import TTLCache
from jupyter_server.utils import url_path_join
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

# How long what the Hub said of a user is used without asking again.
CACHE_SECONDS = 60.0
# Users whose answers are kept at most (the least recently used go first).
CACHE_USERS = 4_096
# How long a request waits for the Hub's answer; without one it is a non-moderator's request.
# As short as the service's check of the token itself (hub.server): a hung Hub must not hold
# requests of tokens it vouched for before.
HUB_TIMEOUT_SECONDS = 1.5
# While the Hub keeps failing, one warning per this many seconds.
WARNING_INTERVAL_SECONDS = 60.0

HubUser = dict[str, Any]


class HubUsers:
    """Looks users up in the Hub's REST API with the identity provider's Hub token.

    `timer`: the clock of the cache and of the warnings (tests drive their own)."""

    def __init__(
        self,
        identity_provider: Any,
        log: logging.Logger,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hub_auth = getattr(identity_provider, "hub_auth", None)
        self._log = log
        self._timer = timer
        self._cache: TTLCache[str, HubUser] = TTLCache(CACHE_USERS, CACHE_SECONDS, timer=timer)
        # one question to the Hub at a time per user: the requests that need it meanwhile wait
        self._asking: dict[str, asyncio.Future[HubUser | None]] = {}
        self._warned_at: float | None = None
        self._unwarned = 0

    async def lookup(self, user: Any) -> HubUser | None:
        """The Hub's model of `user` (name, `admin`, `groups`, ...), as the Hub gave it at most
        `CACHE_SECONDS` ago; None off a Hub, and None when the Hub cannot say now."""
        request_model: HubUser | None = getattr(user, "hub_user", None)
        if request_model is None or self._hub_auth is None:
            return None
        if request_model.get("kind", "user") != "user":
            # a service: what the Hub said of its token is all there is of it
            return request_model
        name = str(request_model["name"])
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        asking = self._asking.get(name)
        if asking is None:
            asking = self._asking[name] = asyncio.ensure_future(self._ask(name))
        return await asyncio.shield(asking)

    async def _ask(self, name: str) -> HubUser | None:
        try:
            model = await self._fetch(name)
        finally:
            del self._asking[name]
        if model is not None:
            self._cache[name] = model
        return model

    async def _fetch(self, name: str) -> HubUser | None:
        """What the Hub says of user `name` now, or None (warned about) when it says nothing
        usable."""
        assert self._hub_auth is not None, "only called on a Hub"
        url = url_path_join(self._hub_auth.api_url, "users", quote(name, safe=""))
        try:
            response = await AsyncHTTPClient().fetch(
                url,
                headers={"Authorization": f"token {self._hub_auth.api_token}"},
                request_timeout=HUB_TIMEOUT_SECONDS,
            )
        except HTTPClientError as error:
            self._warn("the Hub did not describe %s (%s): no moderator rights", name, error)
            return None
        except OSError as error:
            self._warn("the Hub is not reachable (%s): %s has no moderator rights", error, name)
            return None
        try:
            found = json.loads(response.body)
        except ValueError as error:
            self._warn("the Hub's answer about %s is not JSON (%s)", name, error)
            return None
        if (
            not isinstance(found, dict)
            or found.get("name") != name
            or not isinstance(found.get("groups"), list)
        ):
            self._warn("the Hub's answer about %s names no user and groups", name)
            return None
        return found

    def _warn(self, message: str, *args: Any) -> None:
        """A warning, unless one was logged within `WARNING_INTERVAL_SECONDS`: a Hub that is
        down fails every request, which would otherwise flood the log."""
        now = self._timer()
        if self._warned_at is not None and now - self._warned_at < WARNING_INTERVAL_SECONDS:
            self._unwarned += 1
            return
        if self._unwarned:
            message += f" (and {self._unwarned} such failures since the last warning)"
        self._log.warning("jupyter-blocks: " + message, *args)
        self._warned_at, self._unwarned = now, 0
