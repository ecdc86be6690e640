"""The users of a class for benchmarks/live.py's server: named users, one token each, as a Hub
gives them (jupyter-blocks then takes each request's author and viewer from its user, as on the
gallery service), instead of jupyter_server's one owner for every token.

The tokens are read from the JSON file (token -> user name) named by LIVE_CLASS_TOKENS.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jupyter_server.auth.identity import IdentityProvider, User
from tornado import web


class ClassIdentityProvider(IdentityProvider):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.names: dict[str, str] = json.loads(Path(os.environ["LIVE_CLASS_TOKENS"]).read_text())

    async def get_user(self, handler: web.RequestHandler) -> User | None:
        header = handler.request.headers.get("Authorization", "")
        name = self.names.get(header.removeprefix("token ").strip())
        if name is None:
            return None
        handler._token_authenticated = True  # type: ignore[attr-defined]
        return User(username=name)
