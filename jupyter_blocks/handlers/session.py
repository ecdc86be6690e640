"""`GET blocks/session`: who the caller is, as a tiny page for the panel's hidden iframe.

On the JupyterHub gallery service the panel runs on another path of the same origin. Its
`fetch` calls need the service's XSRF token, which the Hub sets in a cookie only on a page
navigation, under the service's path where the panel cannot read it. So the panel loads this
page in a hidden iframe (the Hub's OAuth login happens inside it) and reads the token, the
author and the moderator flag from the `data-` attributes of its body.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .pages import BlocksPageHandler


class SessionPageHandler(BlocksPageHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        token = self.xsrf_token
        self.set_header("Cache-Control", "no-store")
        self.finish(
            self.page(
                "blocks/session.html",
                author=self.author,
                moderator=self.moderator,
                xsrf_token=token.decode() if isinstance(token, bytes) else token,
            )
        )
