"""Every route of jupyter-blocks is authenticated: start a ServerApp with only this extension,
no unauthenticated access, and jupyter_server's JupyterServerAuthWarning (which it gives for
every handler method without an authentication decorator) raised as an error.

Run by .ci/check-wheel with the installed package: python .ci/check_auth.py
"""

import sys
import tempfile
import warnings

from jupyter_server.serverapp import ServerApp
from jupyter_server.utils import JupyterServerAuthWarning
from traitlets.config import Config


def main() -> None:
    with tempfile.TemporaryDirectory() as data:
        app = ServerApp(
            allow_unauthenticated_access=False,
            jpserver_extensions={"jupyter_blocks": True},
            # A failing extension must fail this check, not leave nothing to check.
            reraise_server_extension_failures=True,
            config=Config({"BlocksApp": {"db_url": f"sqlite:///{data}/blocks.sqlite"}}),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error", JupyterServerAuthWarning)
            try:
                app.initialize(argv=[], find_extensions=False, new_httpserver=False)
            except JupyterServerAuthWarning as warning:
                sys.exit(
                    f"{warning}\n\nEvery handler method needs `@tornado.web.authenticated` "
                    "(and `@authorized`); a public one an explicit `@allow_unauthenticated`."
                )
        # Extensions' handlers are added for any host: rules of the default router's routers.
        blocks = [
            rule.target
            for host in app.web_app.default_router.rules
            for rule in getattr(host.target, "rules", [])
            if rule.target.__module__.startswith("jupyter_blocks.")
        ]
        if not blocks:
            sys.exit("jupyter_blocks registered no routes: nothing was checked")
        print(f"All {len(blocks)} jupyter-blocks routes require authentication.")


if __name__ == "__main__":
    main()
