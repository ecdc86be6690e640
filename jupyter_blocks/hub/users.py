"""What the Hub says of a user, for moderation: are they an admin, which groups are they in.

The user model that comes with a request (`JupyterHubUser.hub_user`, from the token or OAuth
cookie) names the user and their groups, but not whether they are an admin. The gallery
service asks the Hub with its own token (role scope `read:users`) and keeps the answer for a
minute. Where that is not allowed (a user's server), the request's model is all there is.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import quote

from jupyter_server.utils import url_path_join
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

CACHE_SECONDS = 60.0
HubUser = dict[str, Any]


class HubUsers:
    """Looks users up in the Hub's REST API with the identity provider's Hub token."""

    def __init__(self, identity_provider: Any, log: logging.Logger) -> None:
        self._hub_auth = getattr(identity_provider, "hub_auth", None)
        self._log = log
        self._cache: dict[str, tuple[float, HubUser]] = {}

    async def lookup(self, user: Any) -> HubUser | None:
        """The Hub's model of `user` (with `admin` when the Hub tells us), or None off a Hub."""
        request_model: HubUser | None = getattr(user, "hub_user", None)
        if request_model is None or self._hub_auth is None:
            return None
        if request_model.get("kind", "user") != "user":
            return request_model
        name = str(request_model["name"])
        cached = self._cache.get(name)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        model = {**request_model, **await self._fetch(name)}
        self._cache[name] = (time.monotonic(), model)
        return model

    async def _fetch(self, name: str) -> HubUser:
        assert self._hub_auth is not None, "only called on a Hub"
        url = url_path_join(self._hub_auth.api_url, "users", quote(name, safe=""))
        try:
            response = await AsyncHTTPClient().fetch(
                url,
                headers={"Authorization": f"token {self._hub_auth.api_token}"},
                request_timeout=10,
            )
        except HTTPClientError as error:
            if error.code not in (403, 404):
                self._log.warning("jupyter-blocks: the Hub did not describe %s: %s", name, error)
            return {}
        except OSError as error:
            self._log.warning("jupyter-blocks: the Hub is not reachable: %s", error)
            return {}
        found: HubUser = json.loads(response.body)
        return found
