"""`jupyter blocks hub-config`: the jupyterhub_config.py fragment that sets up the gallery.

Appended to an admin's existing config it adds (never replaces): the service entry, the roles
that let users and their servers' tokens reach the service and let the service read user
models (admin flag and groups, for moderation), and the users' server environment that points
the extension and kernels at the service. The database URL goes to the service alone.
"""

from __future__ import annotations

from string import Template
from urllib.parse import urlsplit

FRAGMENT = Template('''
# ---- jupyter-blocks: the class gallery as a JupyterHub service --------------------------------
# Printed by `jupyter blocks hub-config`. Appended to jupyterhub_config.py, it adds to the
# services, roles and spawner settings configured above and replaces none of them.
import sys as _blocks_sys

_blocks_name = $name
_blocks_access = f"access:services!service={_blocks_name}"

_blocks_service = {
    "name": _blocks_name,
    "url": $url,
    "command": [_blocks_sys.executable, "-m", "jupyter_blocks.cli", "serve"$serve_args],
    "environment": {
        # The only process holding the database URL: users' servers and kernels never see it.
        "JUPYTER_BLOCKS_DB_URL": $db_url,
        "JUPYTER_BLOCKS_DB_POOL_SIZE": "$pool_size",
$public_url_setting        "JUPYTER_BLOCKS_MODERATORS_GROUP": $moderators,
    },
    "oauth_no_confirm": True,
}
c.JupyterHub.services.append(_blocks_service)
$service_user_setting
# Subdomains: with c.JupyterHub.subdomain_host (set above), users' servers and the service each
# have a host of their own, and the service answers cross-origin requests from a user's own
# server's origin alone. Without it, all share one origin (see the README's Security section).
${subdomain_host_setting}_blocks_subdomain_host = c.JupyterHub.subdomain_host
if not isinstance(_blocks_subdomain_host, str):  # not set above
    _blocks_subdomain_host = ""
elif _blocks_subdomain_host and "://" not in _blocks_subdomain_host:
    _blocks_subdomain_host = "https://" + _blocks_subdomain_host  # as JupyterHub reads it
_blocks_subdomain_hook = c.JupyterHub.subdomain_hook
if not isinstance(_blocks_subdomain_hook, str):  # not set above: JupyterHub's default
    _blocks_subdomain_hook = "idna"
if _blocks_subdomain_host:
    from urllib.parse import urlsplit as _blocks_urlsplit

    from jupyterhub.utils import subdomain_hook_idna, subdomain_hook_legacy

    _blocks_host = _blocks_urlsplit(_blocks_subdomain_host)
    _blocks_hook = {"idna": subdomain_hook_idna, "legacy": subdomain_hook_legacy}[
        _blocks_subdomain_hook
    ]
    _blocks_base_url = c.JupyterHub.base_url if isinstance(c.JupyterHub.base_url, str) else "/"
    # where browsers open the service: its own host, as the Hub gives it one
    _blocks_service_public_url = "{}://{}{}{}services/{}/".format(
        _blocks_host.scheme,
        _blocks_hook(_blocks_name, _blocks_host.hostname, "service"),
        f":{_blocks_host.port}" if _blocks_host.port else "",
        "/" + _blocks_base_url.strip("/") + "/" if _blocks_base_url.strip("/") else "/",
        _blocks_name,
    )
    _blocks_service["environment"].update({
        "JUPYTER_BLOCKS_SUBDOMAIN_HOST": _blocks_subdomain_host,
        "JUPYTER_BLOCKS_SUBDOMAIN_HOOK": _blocks_subdomain_hook,
        # the pages' links name the service's own host, not the Hub's
        "JUPYTER_BLOCKS_PUBLIC_URL": _blocks_service_public_url,
    })
    c.Spawner.environment.update({"JUPYTER_BLOCKS_SERVICE_PUBLIC_URL": _blocks_service_public_url})
elif c.Spawner.disable_user_config is not True:
$no_subdomains_warning
    print(
        "jupyter-blocks: this JupyterHub has no c.JupyterHub.subdomain_host: every user's server "
        "shares one origin with the gallery service and the Hub, so a page one user serves can "
        "act as whoever opens it. Use subdomains, or set c.Spawner.disable_user_config = True "
        "(see the jupyter-blocks README, Security).",
        file=_blocks_sys.stderr,
    )


def _blocks_roles():
    roles = c.JupyterHub.load_roles
    if not isinstance(roles, list):  # nothing assigned above: keep any .append()ed roles
        roles = c.JupyterHub.load_roles = roles.get_value([])
    return roles


def _blocks_grant(role_name, scopes, defaults=(), **members):
    """Add scopes (and members) to a role defined above, or define it with `defaults` too."""
    for role in _blocks_roles():
        if role.get("name") == role_name:
            role["scopes"] = [*role.get("scopes", []), *scopes]
            for kind, names in members.items():
                role[kind] = [*role.get(kind, []), *names]
            return
    _blocks_roles().append({"name": role_name, "scopes": [*defaults, *scopes], **members})


# Every user may use the gallery (a `user` role defined here keeps the built-in `self`).
_blocks_grant("user", [_blocks_access], defaults=["self"])
# The service reads user models: who is a Hub admin, who is in the moderators group.
_blocks_grant("jupyter-blocks-service", ["read:users"], services=[_blocks_name])

# Users' servers, and so their kernels, reach the service with their own Hub token.
_blocks_token_scopes = c.Spawner.server_token_scopes
if isinstance(_blocks_token_scopes, list):
    _blocks_token_scopes.append(_blocks_access)
elif callable(_blocks_token_scopes):
    _blocks_scopes_of = _blocks_token_scopes
    c.Spawner.server_token_scopes = lambda spawner: [*_blocks_scopes_of(spawner), _blocks_access]
else:  # JupyterHub's default (the `server` role) plus the gallery
    c.Spawner.server_token_scopes = ["users:activity!user", "access:servers!server", _blocks_access]

c.Spawner.environment.update({"JUPYTER_BLOCKS_SERVICE_URL": $service_url})
# Moderators (may delete any grid): Hub admins and members of the Hub group $moderators.
# ---- end of jupyter-blocks ---------------------------------------------------------------------
''')


LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")

SERVICE_USER_SETTING = """\
# The Unix user the Hub runs the service as (the Hub must run as root): not one that users'
# servers run as, who could read the service's environment (database password, Hub token).
_blocks_service["user"] = {}
"""
NO_SUBDOMAINS_WARNING = """\
    # WARNING: no subdomains. Every user's server shares one origin with this service and the
    # Hub: a page a user serves from their server (e.g. through c.ServerApp.extra_static_paths)
    # can act as whoever opens it, here and on the Hub. Use c.JupyterHub.subdomain_host, or at
    # least stop users configuring their servers (which does not stop every way they may change
    # their server's environment; see the README's Security section):
    # c.Spawner.disable_user_config = True"""
# Without --public-url the fragment names no host: JupyterHub gives the service its public URL
# (JUPYTERHUB_PUBLIC_URL) where c.JupyterHub.public_url is set; else browsers' requests name
# the host they opened, and kernels name their user's browser's.
PUBLIC_URL_FROM_THE_HUB = """\
        # Page URLs: c.JupyterHub.public_url when set; else the address each user's browser
        # opens the Hub at (`jupyter blocks hub-config --public-url` sets one for all).
"""


def hub_config(
    db_url: str,
    *,
    name: str = "blocks",
    url: str = "http://127.0.0.1:10101",
    public_url: str = "",
    service_url: str = "",
    pool_size: int = 10,
    moderators_group: str = "blocks-moderators",
    subdomain_host: str = "",
    service_user: str = "",
) -> str:
    """The fragment for a service called `name`, reached by the Hub's proxy at `url`, holding
    `db_url`. Users' servers reach it at `service_url` (default: `url` + its prefix).
    `subdomain_host`: set the Hub's `c.JupyterHub.subdomain_host` (default: as configured above
    the fragment); `service_user`: the Unix user the Hub runs the service as."""
    url = url.rstrip("/")
    host = urlsplit(url).netloc.rsplit(":", 1)[0]
    # Reached from other machines (another pod): listen on every interface, not the loopback.
    serve_args = [] if host in LOCAL_HOSTS else ["--ServerApp.ip=0.0.0.0"]
    return FRAGMENT.substitute(
        name=repr(name),
        url=repr(url),
        serve_args="".join(f", {arg!r}" for arg in serve_args),
        db_url=repr(db_url),
        public_url_setting=(
            "        # Page URLs: where people open the Hub (--public-url).\n"
            f'        "JUPYTER_BLOCKS_PUBLIC_URL": {public_url!r},\n'
            if public_url
            else PUBLIC_URL_FROM_THE_HUB
        ),
        service_url=repr(service_url or f"{url}/services/{name}/"),
        pool_size=int(pool_size),
        moderators=repr(moderators_group),
        service_user_setting=SERVICE_USER_SETTING.format(repr(service_user))
        if service_user
        else "",
        subdomain_host_setting=(
            f"c.JupyterHub.subdomain_host = {subdomain_host!r}\n" if subdomain_host else ""
        ),
        no_subdomains_warning=NO_SUBDOMAINS_WARNING,
    ).lstrip("\n")
