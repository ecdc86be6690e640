"""An identity provider with several named users, one token each, as JupyterHub gives a server.

jupyter-blocks takes the author from the identity provider whenever it is not jupyter_server's
own (which invents a new anonymous user per token request); this one stands in for the Hub's.
"""

from __future__ import annotations

from jupyter_server.auth.identity import IdentityProvider, User
from tornado import web

TOKENS = {"alice-token": "alice", "bob-token": "bob"}


class NamedUsersIdentityProvider(IdentityProvider):
    async def get_user(self, handler: web.RequestHandler) -> User | None:
        header = handler.request.headers.get("Authorization", "")
        token = header.removeprefix("token ").strip() or handler.get_argument("token", "")
        name = TOKENS.get(token)
        if name is None:
            return None
        handler._token_authenticated = True  # type: ignore[attr-defined]
        return User(username=name)
