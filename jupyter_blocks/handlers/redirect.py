"""On a user's server whose grids a JupyterHub gallery service keeps: every `blocks/` URL
answers a redirect to the same URL on the service, where the Hub says who is asking."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from ..constants import NAMESPACE

if TYPE_CHECKING:
    from ..app import BlocksApp


@web.stream_request_body
class ServiceRedirectHandler(ExtensionHandlerMixin, JupyterHandler):
    """307 (method and body kept) to the service. Nothing is forwarded on the user's behalf:
    a request through this server with its owner's credentials would act as the owner, also
    for a visitor of a shared server."""

    auth_resource = NAMESPACE

    def data_received(self, chunk: bytes) -> None:
        """The body is the service's to read: not buffered here."""

    @web.authenticated
    @authorized
    def redirect_to_service(self, rest: str | None = None) -> None:
        app = cast("BlocksApp", self.extensionapp)
        # Tornado hands the path over decoded: `..%2f` is `../` by now, which a browser would
        # resolve out of the service's blocks/ (to the Hub's API, say, keeping method and body).
        segments = (rest or "").lstrip("/").split("/")
        if any(segment in (".", "..") or "\\" in segment for segment in segments):
            raise web.HTTPError(404)
        target = app.service_blocks_path + quote("/".join(segments), safe="/")
        if self.request.query:
            target += "?" + self.request.query
        self.redirect(target, status=307)

    get = post = patch = delete = redirect_to_service
