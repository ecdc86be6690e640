"""HTTP to one jupyter-blocks server, on one `requests.Session` (connections are reused).

The token travels in the `Authorization` header, never in a URL: JupyterHub 5 and later ignore
tokens in URLs of single-user servers (`HubAuth.allow_token_in_url`, off by default), and a
token in a URL ends up in error messages (requests' `HTTPError` names the URL), hence in saved
notebook outputs.
"""

from __future__ import annotations

import secrets
from typing import Any

import requests

from .errors import BlocksConnectionError, BlocksRequestError, quote_errors

REQUEST_TIMEOUT = 30.0
"""Seconds to wait for the server to connect and to answer each request."""

WHAT_TO_DO = (
    "Is the Jupyter server that started this kernel still running? Save your work and restart "
    "the kernel from a running server, or call jupyter_blocks.client.connect(url=..., token=...)."
)


class Transport:
    """Requests to `url` (a server's `<base_url>blocks/` URL, the one place it is kept)."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"token {token}"
        else:
            # A server with authentication disabled checks XSRF on writes (it skips the check
            # only for token requests): send the cookie and header pair a browser would.
            xsrf = secrets.token_hex(16)
            self.session.headers["X-XSRFToken"] = xsrf
            self.session.cookies.set("_xsrf", xsrf)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """`method` on `<blocks URL><path>`; the response, or an error that says why."""
        url = self.url + path
        try:
            response = self.session.request(
                method, url, timeout=REQUEST_TIMEOUT, allow_redirects=False, **kwargs
            )
        except requests.RequestException as error:
            raise BlocksConnectionError(
                f"Cannot reach the Jupyter server at {url}: {error}. {WHAT_TO_DO}"
            ) from error
        if response.status_code < 300:
            return response
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        errors = body.get("errors") or []
        message = body.get("message") or response.reason or "request failed"
        if response.is_redirect:
            message = f"redirected to {response.headers.get('Location')} (not logged in?)"
        elif errors:
            message = f"{message}: {quote_errors(errors)}"
        raise BlocksRequestError(
            f"{method} {url}: {response.status_code} {message}",
            status=response.status_code,
            errors=errors,
            response=response,
        )
