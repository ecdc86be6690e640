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

from ..kernel_env import ORIGIN_HEADER, checked_origin
from .errors import BlocksConnectionError, BlocksRequestError, quote_errors

REQUEST_TIMEOUT = 30.0
"""Seconds to wait for the server to connect and to answer each request."""

WHAT_TO_DO = (
    "Is the Jupyter server that started this kernel still running? Save your work and restart "
    "the kernel from a running server, or call jupyter_blocks.client.connect(url=..., token=...)."
)


class Transport:
    """Requests to `url` (a server's `<base_url>blocks/` URL, the one place it is kept).

    `origin_url`: where this kernel's own server says which origin its user's browser opens
    it at (`handlers.origin`), when `url` is a JupyterHub gallery service's, which the kernel
    reaches at an address no browser opens: requests whose answers hold page URLs name that
    origin to the service, so that the URLs open in the user's browser.
    """

    def __init__(self, url: str, token: str | None, origin_url: str | None = None) -> None:
        self.url = url
        self.origin_url = origin_url
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"token {token}"
        else:
            # A server with authentication disabled checks XSRF on writes (it skips the check
            # only for token requests): send the cookie and header pair a browser would.
            xsrf = secrets.token_hex(16)
            self.session.headers["X-XSRFToken"] = xsrf
            self.session.cookies.set("_xsrf", xsrf)

    def browser_origin(self) -> str | None:
        """The origin this kernel's server last saw its user's browser open it at, asked now
        (it changes when they open it at another address); None when it has seen none, or
        cannot say: the service then answers paths rather than guess a host."""
        if self.origin_url is None:
            return None
        try:
            answer = self.session.get(self.origin_url, timeout=REQUEST_TIMEOUT)
            origin = answer.json().get("origin") if answer.status_code == 200 else None
        except (requests.RequestException, ValueError, AttributeError):
            return None
        return checked_origin(origin) if isinstance(origin, str) else None

    def request(
        self, method: str, path: str, links: bool = False, **kwargs: Any
    ) -> requests.Response:
        """`method` on `<blocks URL><path>`; the response, or an error that says why.
        `links`: the answer holds page URLs, which should open in the user's browser."""
        url = self.url + path
        origin = self.browser_origin() if links else None
        if origin is not None:
            kwargs["headers"] = {**kwargs.get("headers", {}), ORIGIN_HEADER: origin}
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
