"""`jupyter blocks serve`: the gallery as a JupyterHub-managed service.

A jupyter_server locked down to jupyter-blocks alone: it holds the database (the only process
that does), the Hub authenticates every request (OAuth cookie for browsers, Hub API tokens for
users' servers and kernels, through jupyterhub's own identity provider and authorizer for
jupyter_server), and the author of a grid is the Hub user the Hub names. It serves the
`blocks/` URL map under the service prefix and nothing else: no kernels, contents, files or
terminals, no other server extension, and no config files: it is configured by the environment
the Hub gives it (JUPYTERHUB_*, JUPYTER_BLOCKS_*) and its command line.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import hmac
import importlib
import json
import logging
import os
import resource
import secrets
import socket
import tempfile
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from jupyter_server.prometheus.log_functions import prometheus_log_method
from jupyter_server.serverapp import ServerApp
from jupyterhub._version import version_info as jupyterhub_version
from jupyterhub.services.auth import HubOAuth
from jupyterhub.singleuser.extension import JupyterHubAuthorizer, JupyterHubIdentityProvider
from jupyterhub.utils import subdomain_hook_idna, subdomain_hook_legacy
from tornado import httputil
from tornado.http1connection import HTTP1ServerConnection
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.web import HTTPError, OutputTransform
from traitlets import Bytes, Enum, Float, TraitError, Unicode, default, validate
from traitlets.config import Config

from ..handlers.base import ApiError

EXTENSIONS = {"jupyter_blocks": True}

# How long a request waits for the Hub to say whose token it carries: the Hub answers in
# milliseconds when it is up, so past this it is down or hung and the request gets a 503.
HUB_CONNECT_TIMEOUT_SECONDS = 1.0
HUB_TIMEOUT_SECONDS = 1.5
# What a 503 tells clients to wait before they try again.
RETRY_AFTER_SECONDS = 5


class HubUnavailable(ApiError):
    """The Hub could not say who a request is from: a 503 the client may retry."""

    MESSAGE = "The JupyterHub cannot be reached to check who you are"

    def __init__(self) -> None:
        super().__init__(503, f"{self.MESSAGE}; try again in {RETRY_AFTER_SECONDS} seconds")


def _hub_unreachable(error: HTTPError) -> bool:
    """Whether HubAuth's error means that no answer came from the Hub, rather than a refusal:
    it raises a 500 from inside its handler of the connection's failure (timeouts included), and
    a 502 for a Hub that answered with an error of its own."""
    if error.status_code == 502:
        return True
    cause = error.__context__
    return error.status_code == 500 and cause is not None and not isinstance(cause, HTTPError)


class GalleryHubAuth(HubOAuth):  # type: ignore[misc]  # jupyterhub is untyped
    """jupyterhub's HubOAuth with short timeouts on its calls to the Hub's API.

    Tornado's default 20 s would hold every request of a token the service has not seen yet for
    20 s while the Hub is down or hung, and end in a 500. Here the request is given up after
    `hub_timeout` seconds and answered 503 with Retry-After; tokens the Hub vouched for before
    (HubAuth's own cache) keep working meanwhile. The same applies to the OAuth callback."""

    hub_timeout = Float(
        HUB_TIMEOUT_SECONDS,
        config=True,
        help="Seconds a request waits for the Hub's API before it is answered 503.",
    )

    async def _api_request(self, method: str, url: str, **kwargs: Any) -> Any:
        kwargs.update(
            _timeouts(min(HUB_CONNECT_TIMEOUT_SECONDS, self.hub_timeout), self.hub_timeout)
        )
        asking = super()._api_request(method, url, **kwargs)
        try:
            # the HTTP client's own timeouts end it first; this bounds it whatever the client
            return await asyncio.wait_for(asking, self.hub_timeout + 0.25)
        except asyncio.TimeoutError as error:
            raise HubUnavailable() from error
        except HTTPError as error:
            if _hub_unreachable(error):
                raise HubUnavailable() from error
            raise

    # JupyterHub 5 and 6 keep a login's OAuth state (where to go afterwards, which state cookie,
    # and in JupyterHub 6 the PKCE verifier) in the memory of the process that began the login:
    # behind a load balancer, the callback may reach another replica. Here the state travels in
    # the state itself (as in JupyterHub 4), bound to the browser by the state cookie, which the
    # replicas' shared cookie secret signs. The PKCE verifier must not travel (the state passes
    # through URLs): it is derived from a random nonce in the state with `state_secret`, which
    # any replica can do again.

    state_secret = Bytes(
        b"", help="The key PKCE verifiers are derived with: the service's cookie secret."
    )

    def generate_pkce_code_challenge(self, method: str = "S256") -> tuple[str, str, str]:
        """JupyterHub 6's PKCE (RFC 7636, S256), with a verifier derived from a nonce."""
        if method != "S256":
            raise ValueError(f"Only method='S256' is supported, not {method!r}")
        verifier = self._pkce_verifier(secrets.token_urlsafe(24))
        challenge = hashlib.sha256(verifier.encode("ascii")).digest()
        return verifier, base64.urlsafe_b64encode(challenge).decode("ascii").rstrip("="), method

    def _pkce_verifier(self, nonce: str) -> str:
        if not self.state_secret:
            raise RuntimeError("GalleryHubAuth.state_secret is not set")
        mac = hmac.new(self.state_secret, f"pkce {nonce}".encode(), hashlib.sha256).digest()
        return f"{nonce}.{base64.urlsafe_b64encode(mac).decode('ascii').rstrip('=')}"

    def generate_state(self, next_url: str | None = None, **extra_state: Any) -> str:
        verifier = extra_state.pop("code_verifier", None)
        if verifier is not None:
            nonce = verifier.partition(".")[0]
            if not hmac.compare_digest(self._pkce_verifier(nonce), verifier):
                raise ValueError("a PKCE verifier that generate_pkce_code_challenge did not make")
            extra_state["pkce_nonce"] = nonce
        state = {"uuid": secrets.token_urlsafe(16), "next_url": next_url, **extra_state}
        return base64.urlsafe_b64encode(json.dumps(state).encode()).decode("ascii")

    def get_next_url(self, state_id: str = "", /) -> str:
        next_url = _decoded_state(state_id).get("next_url")
        return next_url if isinstance(next_url, str) and next_url else str(self.base_url)

    def get_state_cookie_name(self, state_id: str = "", /) -> str:
        name = _decoded_state(state_id).get("cookie_name")
        if isinstance(name, str) and name.startswith(self.state_cookie_name):
            return name
        return str(self.state_cookie_name)

    def get_code_verifier(self, state_id: str = "", /) -> str | None:
        nonce = _decoded_state(state_id).get("pkce_nonce")
        return self._pkce_verifier(nonce) if isinstance(nonce, str) else None


def _decoded_state(state_id: str) -> dict[str, Any]:
    """What `GalleryHubAuth.generate_state` wrote in a state (an empty one if it did not)."""
    try:
        state = json.loads(base64.urlsafe_b64decode(state_id.encode("ascii")))
    except (ValueError, UnicodeError):
        return {}
    return state if isinstance(state, dict) else {}


def _timeouts(connect: float, total: float) -> dict[str, Any]:
    """The HTTP client's timeout arguments: JupyterHub 5 calls the Hub with Tornado's client,
    JupyterHub 6 with aiohttp's."""
    if jupyterhub_version[0] >= 6:
        aiohttp = importlib.import_module("aiohttp")  # JupyterHub 6's HTTP client
        return {"timeout": aiohttp.ClientTimeout(total=total, sock_connect=connect)}
    return {"connect_timeout": connect, "request_timeout": total}


# The request attribute naming the origin a cross-origin request was admitted from.
ADMITTED_ORIGIN = "jupyter_blocks_admitted_origin"
# How long a browser may keep a preflight's answer.
PREFLIGHT_MAX_AGE_SECONDS = 600
SUBDOMAIN_HOOKS = {"idna": subdomain_hook_idna, "legacy": subdomain_hook_legacy}
DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(scheme: str, host: str, port: int | None) -> str:
    """scheme://host[:port] as a browser writes it in an Origin header (no default port)."""
    if port is None or DEFAULT_PORTS.get(scheme) == port:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


class UserOrigins:
    """Where each user's servers are, on a Hub with `c.JupyterHub.subdomain_host`: the origin
    the Hub gives them (`<user>.<domain>`, by the Hub's own subdomain hook), the only origin
    besides its own that the service answers cross-origin requests from, for that user alone."""

    def __init__(self, subdomain_host: str, hook: str = "idna") -> None:
        url = urlsplit(subdomain_host)
        if url.scheme not in DEFAULT_PORTS or not url.hostname:
            raise ValueError(f"not a subdomain_host URL: {subdomain_host!r}")
        self.scheme, self.domain, self.port = url.scheme, url.hostname.lower(), url.port
        self.hook = SUBDOMAIN_HOOKS[hook]

    def of(self, user_name: str) -> str:
        """The origin of `user_name`'s servers, as the Hub computes it."""
        return _origin(self.scheme, self.hook(user_name, self.domain, "user").lower(), self.port)

    def could_be_a_users(self, origin: str) -> bool:
        """Whether `origin` has the shape of some user's server origin (a preflight carries no
        credentials: whose it is, is checked on the request that follows)."""
        url = urlsplit(origin)
        try:
            port = url.port
        except ValueError:
            return False
        host = url.hostname or ""
        return (
            origin == _origin(url.scheme, host, port)
            and url.scheme == self.scheme
            and (port or DEFAULT_PORTS[url.scheme]) == (self.port or DEFAULT_PORTS[self.scheme])
            and host.endswith("." + self.domain)
        )


class ForeignOrigin(ApiError):
    """A request sent by a page on an origin that is neither the service's nor the requesting
    user's own server's."""

    def __init__(self, origin: str) -> None:
        super().__init__(
            403,
            f"Requests from pages on {origin} are not accepted: the gallery answers pages on "
            "its own address and on your own server's only",
        )


class GalleryIdentityProvider(JupyterHubIdentityProvider):  # type: ignore[misc]
    """jupyterhub's identity provider for jupyter_server, with the Hub client above, which
    also decides where from a browser may call the service.

    Requests without an Origin (kernels, scripts, page loads) and from the service's own origin
    are as before. On a Hub with `subdomain_host`, a cross-origin request (CORS with
    credentials) is admitted from the requesting user's own server's origin alone: a page on
    someone else's server (bob in alice's shared JupyterLab, a page alice serves) cannot act
    as its visitor. Any other origin gets a 403; preflights (no credentials) are admitted from
    origins shaped like a user's server's. Without `subdomain_host` no cross-origin request is
    admitted."""

    subdomain_host = Unicode(
        "",
        config=True,
        help="""The Hub's `c.JupyterHub.subdomain_host` (empty: the Hub has none): users'
        servers are then on their own origins, from which the panel calls the service.""",
    )
    subdomain_hook = Enum(
        list(SUBDOMAIN_HOOKS),
        "idna",
        config=True,
        help="The Hub's `c.JupyterHub.subdomain_hook` (JupyterHub's named hooks only).",
    )

    @validate("subdomain_host")
    def _valid_subdomain_host(self, proposal: Any) -> str:
        value = str(proposal["value"])
        if value and "://" not in value:
            value = "https://" + value  # as JupyterHub reads its own subdomain_host
        try:
            UserOrigins(value, "idna")
        except ValueError as error:
            raise TraitError(str(error)) from error
        return value

    @default("hub_auth")
    def _default_hub_auth(self) -> HubOAuth:
        return GalleryHubAuth(parent=self)

    @property
    def user_origins(self) -> UserOrigins | None:
        if not self.subdomain_host:
            return None
        return UserOrigins(self.subdomain_host, self.subdomain_hook)

    def own_origin(self, user: Any) -> str | None:
        """The origin of `user`'s own servers, or None (no subdomains, not a user)."""
        origins = self.user_origins
        hub_user = getattr(user, "hub_user", None) or {}
        if origins is None or hub_user.get("kind", "user") != "user":
            return None
        return origins.of(str(hub_user.get("name", user.name)))

    async def get_user(self, handler: Any) -> Any:
        user = await super().get_user(handler)
        request = handler.request
        origin = request.headers.get("Origin")
        if origin is None or urlsplit(origin.lower()).netloc == request.host.lower():
            return user  # no page behind it, or one of the service's own
        if user is not None and origin == self.own_origin(user):
            setattr(request, ADMITTED_ORIGIN, origin)
            return user
        origins = self.user_origins
        if request.method == "OPTIONS" and origins is not None and origins.could_be_a_users(origin):
            setattr(request, ADMITTED_ORIGIN, origin)
            return user
        raise ForeignOrigin(origin)

    def should_check_origin(self, handler: Any) -> bool:
        """jupyter_server's own origin check (API requests, websockets) refuses every other
        origin: an admitted one has been checked above."""
        if getattr(handler.request, ADMITTED_ORIGIN, None):
            return False
        return bool(super().should_check_origin(handler))


class ServiceResponses(OutputTransform):
    """Headers every answer of the service gets right, whichever handler answered it (ours,
    jupyter_server's, jupyterhub's OAuth callback).

    - A 503 (Hub or database unavailable) says when to try again (`Retry-After`).
    - A request admitted from a user's own server's origin (`GalleryIdentityProvider`) gets
      the CORS headers that let that page read the answer, whatever answered it.
    - An answer sent before the request's body was read (an error in `prepare` of a handler
      that streams bodies: the Hub down, a 403, a 413) says `Connection: close`: Tornado closes
      such a connection once the answer is sent but does not say so, and a proxy that reuses it
      meanwhile (the Hub's, with keep-alive) gets a reset and answers its own error instead."""

    def __init__(self, request: httputil.HTTPServerRequest) -> None:
        super().__init__(request)
        self.request = request

    def transform_first_chunk(
        self, status_code: int, headers: httputil.HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, httputil.HTTPHeaders, bytes]:
        if status_code == 503 and "Retry-After" not in headers:
            headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        admitted = getattr(self.request, ADMITTED_ORIGIN, None)
        if admitted:  # (errors included: the panel reads their message)
            headers["Access-Control-Allow-Origin"] = admitted
            headers["Access-Control-Allow-Credentials"] = "true"
            if self.request.method == "OPTIONS":
                headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_SECONDS)
        if "Access-Control-Allow-Origin" in headers or self.request.headers.get("Origin"):
            headers.add("Vary", "Origin")
        if status_code != 101 and not getattr(self.request.connection, "_read_finished", True):
            headers["Connection"] = "close"
        return super().transform_first_chunk(status_code, headers, chunk, finishing)


# The service's HTTP server (any process on the Hub's machine can reach its port):
# - a client has this long to send a request's headers, and a kept-alive connection may idle
#   this long between requests (Tornado's header timeout is its idle timeout; the Hub's proxy
#   keeps connections alive for 5 s, so it closes them first);
IDLE_SECONDS = 10.0
# - and this long to send a request's body (8 MiB at 150 KB/s).
BODY_SECONDS = 60.0
# Out of file descriptors: connections that have waited this long for a request are closed,
# the oldest first, this many at a time, so that the backlog's requests find room.
EVICT_AFTER_SECONDS = 1.0
EVICT_AT_ONCE = 64
# ... and with none to close, accepting pauses this long (the listening socket stays readable:
# Tornado's accept loop would spin on it and log every failure).
ACCEPT_PAUSE_SECONDS = 0.1
# A repeating problem (out of descriptors) is logged once per this many seconds.
LOG_INTERVAL_SECONDS = 60.0
OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


class NotAHubService(RuntimeError):
    """`jupyter blocks serve` was started without the environment a JupyterHub service gets, or
    with a setting in it that cannot work."""


class _Throttled:
    """A warning logged at most once per interval, with the count of those not logged."""

    def __init__(self, log: logging.Logger, interval: float = LOG_INTERVAL_SECONDS) -> None:
        self.log, self.interval = log, interval
        self.logged_at: float | None = None
        self.unlogged = 0

    def warning(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if self.logged_at is not None and now - self.logged_at < self.interval:
            self.unlogged += 1
            return
        if self.unlogged:
            message += f" ({self.unlogged} more times since the last such warning)"
        self.log.warning(message, *args)
        self.logged_at, self.unlogged = now, 0


class _Gate:
    """Opens at most once per interval; counts the times it stayed shut in between."""

    def __init__(self, interval: float = LOG_INTERVAL_SECONDS) -> None:
        self.interval = interval
        self.opened_at: float | None = None
        self.shut = 0

    def open(self) -> int | None:
        """None while shut; else how many times it was shut since it last opened."""
        now = time.monotonic()
        if self.opened_at is not None and now - self.opened_at < self.interval:
            self.shut += 1
            return None
        shut, self.opened_at, self.shut = self.shut, now, 0
        return shut


class _OncePerInterval(logging.Filter):
    """Lets one record of a kind through per interval (a repeating error: the Hub is down),
    saying how many it held back."""

    def __init__(self, kind: Callable[[logging.LogRecord], bool]) -> None:
        super().__init__()
        self.kind, self.gate = kind, _Gate()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.kind(record):
            return True
        held = self.gate.open()
        if held is None:
            return False
        if held:
            record.msg = f"{record.msg} (and {held} times more since it was last logged)"
        return True


def _hub_failed(record: logging.LogRecord) -> bool:
    """HubAuth's error for each failed call to the Hub."""
    return str(record.msg).startswith("Error connecting to ")


def _hub_unavailable(record: logging.LogRecord) -> bool:
    """Tornado's warning for each 503 that followed such a failure."""
    return record.levelno == logging.WARNING and HubUnavailable.MESSAGE in record.getMessage()


class _HeadersSeen(httputil.HTTPMessageDelegate):
    """Passes a request on, and says when its headers have arrived (or the connection went)."""

    def __init__(self, delegate: httputil.HTTPMessageDelegate, seen: Callable[[], object]) -> None:
        self.delegate, self.seen = delegate, seen

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Any:
        self.seen()
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self.seen()
        self.delegate.on_connection_close()


class ServiceHTTPServer(HTTPServer):
    """Tornado's HTTP server with limits for clients that are slow on purpose.

    - Headers, idle keep-alive connections and bodies have timeouts (Tornado has none by
      default: a client trickling a header line every few seconds holds a descriptor forever).
      A websocket is no longer an HTTP request once upgraded: none of them applies to it.
    - Out of file descriptors, `accept` fails while the listening socket stays readable, and
      Tornado's accept loop spins on it, logging each failure. Here the connections that have
      waited longest for a request (at least EVICT_AFTER_SECONDS) are closed to make room,
      or, with none, accepting pauses briefly; either is logged once per LOG_INTERVAL_SECONDS.
    """

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("idle_connection_timeout", IDLE_SECONDS)
        kwargs.setdefault("body_timeout", BODY_SECONDS)
        super().initialize(*args, **kwargs)
        # connections waiting for a request's headers, and since when (oldest first)
        self._waiting: dict[HTTP1ServerConnection, float] = {}
        self._out_of_descriptors = _Throttled(logging.getLogger("ServerApp"))
        self.evicted = 0

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        delegate = super().start_request(server_conn, request_conn)
        connection = server_conn
        assert isinstance(connection, HTTP1ServerConnection)
        self._waiting.pop(connection, None)
        self._waiting[connection] = time.monotonic()
        return _HeadersSeen(delegate, lambda: self._waiting.pop(connection, None))

    def on_close(self, server_conn: object) -> None:
        self._waiting.pop(server_conn, None)  # type: ignore[call-overload]
        super().on_close(server_conn)

    def add_sockets(self, sockets: Any) -> None:
        for sock in sockets:
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = self._accept_from(sock)

    def _evict(self) -> int:
        """Close up to EVICT_AT_ONCE connections that have waited longest for a request."""
        old = time.monotonic() - EVICT_AFTER_SECONDS
        victims = [conn for conn, since in self._waiting.items() if since <= old]
        for conn in victims[:EVICT_AT_ONCE]:
            self._waiting.pop(conn, None)
            conn.stream.close()
        self.evicted += min(len(victims), EVICT_AT_ONCE)
        return min(len(victims), EVICT_AT_ONCE)

    def _accept_from(self, sock: socket.socket) -> Callable[[], None]:
        """tornado.netutil.add_accept_handler, which backs off when out of descriptors."""
        io_loop = IOLoop.current()
        state: dict[str, Any] = {"removed": False, "paused": None}

        def accept(fd: Any, events: int) -> None:
            for _ in range(128):  # Tornado's heuristic: a backlog's worth, then other work
                if state["removed"]:
                    return
                try:
                    connection, address = sock.accept()
                except BlockingIOError:
                    return
                except ConnectionAbortedError:
                    continue
                except OSError as error:
                    if error.errno not in OUT_OF_DESCRIPTORS:
                        raise
                    evicted = self._evict()
                    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
                    if evicted:
                        self._out_of_descriptors.warning(
                            "jupyter-blocks: out of file descriptors (limit %d, %s): closed %d "
                            "connections that sent no request for %.0f s or more",
                            limit,
                            error.strerror,
                            evicted,
                            EVICT_AFTER_SECONDS,
                        )
                        continue
                    self._out_of_descriptors.warning(
                        "jupyter-blocks: out of file descriptors (limit %d, %s): not accepting "
                        "connections for %.1f s",
                        limit,
                        error.strerror,
                        ACCEPT_PAUSE_SECONDS,
                    )
                    io_loop.remove_handler(sock)
                    state["paused"] = io_loop.call_later(ACCEPT_PAUSE_SECONDS, resume)
                    return
                self._handle_connection(connection, address)

        def resume() -> None:
            state["paused"] = None
            if not state["removed"]:
                io_loop.add_handler(sock, accept, IOLoop.READ)

        def remove() -> None:
            if state["paused"] is not None:
                io_loop.remove_timeout(state["paused"])
            elif not state["removed"]:
                io_loop.remove_handler(sock)
            state["removed"] = True

        io_loop.add_handler(sock, accept, IOLoop.READ)
        return remove


def raise_descriptor_limit(log: logging.Logger) -> None:
    """The soft limit of open files raised to the hard one (often 1,024 of 1,048,576): every
    connection is a descriptor. Only in `jupyter blocks serve`, whose process is ours."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # an unlimited hard limit: as far as Linux lets a process go by default (fs.nr_open)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= target:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (OSError, ValueError) as error:
        log.warning("jupyter-blocks: could not raise the open files limit %d: %s", soft, error)
    else:
        log.info("jupyter-blocks: open files limit raised from %d to %d", soft, target)


class GalleryServiceApp(ServerApp):
    name = "jupyter-blocks-serve"
    description = "The jupyter-blocks gallery as a JupyterHub service."
    # api/status (health checks) only: no kernels, sessions, contents, files, terminals, ...
    default_services = ("api",)  # type: ignore[assignment]  # ServerApp types it as its own tuple

    @property
    def config_file_paths(self) -> list[str]:
        return []

    def find_server_extensions(self) -> None:
        """Only jupyter-blocks, whatever extensions are installed beside it."""

    def init_server_extensions(self) -> None:
        self.jpserver_extensions = dict(EXTENSIONS)
        super().init_server_extensions()

    def init_httpserver(self) -> None:
        # Grid posts stream their bodies and check `max_body_bytes` themselves; no other request
        # of the gallery has a body worth more, so none makes the service buffer up to
        # jupyter_server's 512 MB per request (unless the admin set a limit).
        if "max_body_size" not in self.config.ServerApp:
            self.max_body_size = self.web_app.settings["jupyter_blocks"].max_body_bytes
        # jupyter_server makes the HTTPServer: Tornado's documented way to have it make ours
        HTTPServer.configure(ServiceHTTPServer)
        try:
            super().init_httpserver()
        finally:
            HTTPServer.configure(None)
        raise_descriptor_limit(self.log)

    def init_webapp(self) -> None:
        super().init_webapp()
        # As jupyterhub.singleuser does: tornado's own XSRF check runs before the Hub has said
        # whether a request carries a token; jupyter_server checks again once it knows.
        self.web_app.settings["xsrf_cookies"] = False
        if isinstance(self.identity_provider, GalleryIdentityProvider):
            self.identity_provider.hub_auth.state_secret = self.cookie_secret
        self.web_app.add_transform(ServiceResponses)
        self._log_repeating_errors_once()

    def _log_repeating_errors_once(self) -> None:
        """While the Hub (or the database) is down, every request fails the same way: its 503s
        are logged once per LOG_INTERVAL_SECONDS, with a count, instead of several lines each
        (this process is ours: its loggers may be tuned)."""
        logging.getLogger("tornado.application").addFilter(_OncePerInterval(_hub_failed))
        logging.getLogger("tornado.general").addFilter(_OncePerInterval(_hub_unavailable))
        log_request = self.web_app.settings.get("log_function")
        if log_request is None:
            return
        gate, metrics = _Gate(), self.record_http_request_metrics
        log = self.log

        def log_unavailable_once(handler: Any) -> None:
            if handler.get_status() != 503:
                log_request(handler)
                return
            held = gate.open()
            if held is None:
                if metrics:
                    prometheus_log_method(handler)  # type: ignore[no-untyped-call]
                return
            log_request(handler)
            if held:
                log.warning(
                    "jupyter-blocks: and %d more 503 answers since the last one logged", held
                )

        self.web_app.settings["log_function"] = log_unavailable_once


# The key that signs the service's cookies (the Hub login's token cookie, the OAuth state, the
# XSRF tokens), in hex as JupyterHub's own JPY_COOKIE_SECRET: replicas behind one load balancer
# need the same one, or a login made through one is refused by the others. Without it, each
# process keeps a random key of its own in its runtime directory (jupyter_server's default).
COOKIE_SECRET_ENV = "JUPYTER_BLOCKS_COOKIE_SECRET"
COOKIE_SECRET_BYTES = 32


def cookie_secret(environ: Any = os.environ) -> bytes | None:
    """The cookie secret from COOKIE_SECRET_ENV, or None when it is not set."""
    value = environ.get(COOKIE_SECRET_ENV, "").strip()
    if not value:
        return None
    try:
        secret = bytes.fromhex(value)
    except ValueError:
        secret = b""
    if len(secret) < COOKIE_SECRET_BYTES:
        raise NotAHubService(
            f"{COOKIE_SECRET_ENV} must be at least {COOKIE_SECRET_BYTES} random bytes written in "
            f"hex: make one with `openssl rand -hex {COOKIE_SECRET_BYTES}`"
        )
    return secret


def service_config(environ: Any = os.environ) -> Config:
    """Where to listen and how to authenticate, from the environment the Hub sets."""
    service_url = environ.get("JUPYTERHUB_SERVICE_URL")
    if not service_url or not environ.get("JUPYTERHUB_API_TOKEN"):
        raise NotAHubService(
            "jupyter blocks serve runs as a JupyterHub-managed service (JUPYTERHUB_SERVICE_URL and "
            "JUPYTERHUB_API_TOKEN are not set). `jupyter blocks hub-config` prints the Hub config."
        )
    url = urlsplit(service_url)
    shared_secret = cookie_secret(environ)
    return Config(
        {
            "ServerApp": {
                **({"cookie_secret": shared_secret} if shared_secret else {}),
                "ip": url.hostname or "127.0.0.1",
                "port": url.port or 80,
                "base_url": environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/",
                "default_url": "/blocks/",
                # Behind the Hub's proxy, as JupyterHub's own single-user servers: browsers come
                # with the Hub's host (which jupyter_server refuses on a loopback address unless
                # remote access is allowed), and a request's scheme is the one the proxy says
                # the browser used (X-Forwarded-Proto), for the page URLs made from it.
                "allow_remote_access": True,
                "trust_xheaders": True,
                "identity_provider_class": GalleryIdentityProvider,
                "authorizer_class": JupyterHubAuthorizer,
                "open_browser": False,
                "allow_root": True,
                # Nothing is served from it (no contents or files services); an empty place.
                "root_dir": tempfile.mkdtemp(prefix="jupyter-blocks-service-"),
                "jpserver_extensions": dict(EXTENSIONS),
            },
            "ContentsManager": {"files_handler_class": None},
            "GalleryIdentityProvider": {
                "subdomain_host": environ.get("JUPYTER_BLOCKS_SUBDOMAIN_HOST", ""),
                "subdomain_hook": environ.get("JUPYTER_BLOCKS_SUBDOMAIN_HOOK") or "idna",
            },
            "BlocksApp": {"hub_service": True},
        }
    )


def serve(argv: list[str]) -> None:
    GalleryServiceApp.launch_instance(argv=argv, config=service_config())
