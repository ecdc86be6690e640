"""`GET blocks/session`: who the caller is, as a tiny page for the panel's hidden iframe.

On the JupyterHub gallery service the panel's `fetch` calls need the service's XSRF token,
which the Hub sets in a cookie only on a page navigation, under the service's path where the
panel cannot read it. So the panel loads this page in a hidden iframe (the Hub's OAuth login
happens inside it), and the page's script posts the author, the moderator flag and the token
to the page that framed it, on one origin only: the user's own server's on a Hub with
subdomains (`c.JupyterHub.subdomain_host`), else the service's own, which users' servers share.
Only a page on that origin may frame it, and the browser delivers the message to no other.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import PAGE_CSP
from .pages import BlocksPageHandler


class SessionPageHandler(BlocksPageHandler):
    @property
    def target_origin(self) -> str:
        """The one origin this page hands the session to: the user's own server's, or `self`
        (the page's own origin, as the browser sees it)."""
        own_origin = getattr(self.identity_provider, "own_origin", None)
        users = own_origin(self.current_user) if own_origin is not None else None
        return users or "self"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        token = self.xsrf_token
        self.set_header("Cache-Control", "no-store")
        if self.target_origin != "self":  # (set once the user is known)
            self.set_header(
                "Content-Security-Policy",
                PAGE_CSP.replace("frame-ancestors 'self'", f"frame-ancestors {self.target_origin}"),
            )
        self.finish(
            self.page(
                "blocks/session.html",
                author=self.author,
                moderator=self.moderator,
                xsrf_token=token.decode() if isinstance(token, bytes) else token,
                target_origin=self.target_origin,
                session_js_url=self.static_url("session.js"),
            )
        )
