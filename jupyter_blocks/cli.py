"""`jupyter blocks ...`: administer a jupyter-blocks database from the command line.

    jupyter blocks upgrade-db            bring the schema to the newest revision
    jupyter blocks stats                 how many grids, by whom
    jupyter blocks export [FILE]         every grid (secret ones too) as JSON lines
    jupyter blocks import FILE           load an export into an empty database, ids unchanged
    jupyter blocks copy --to URL         the same, straight into another database
    jupyter blocks audit                 who deleted which grids, newest first
    jupyter blocks serve                 the gallery as a JupyterHub service (run by the Hub)
    jupyter blocks hub-config --db-url URL [--port N] [--name NAME] [--public-url URL]
                                         print the jupyterhub_config.py fragment for it

The database is the one the server would use: `--db-url`, else JUPYTER_BLOCKS_DB_URL, else
`c.BlocksApp.db_url` from the Jupyter server config files, else the default SQLite file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import IO, Any, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from . import db, service
from .ids import GridIds
from .service import SALT_SETTING

T = TypeVar("T")


def configured_db_url(explicit: str | None) -> str:
    if explicit:
        return explicit
    # jupyter_server takes seconds to import: only when the URL has to come from its config
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config.application import Application

    from .app import BlocksApp

    app = BlocksApp()
    Application.load_config_file(app, "jupyter_server_config", path=jupyter_config_path())
    app._apply_environment()
    return str(app.db_url)


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _run(url: str, work: Callable[[Session], T]) -> T:
    database = db.Database(url, pool_size=1)
    try:
        with db.session_context(database.sessions) as session:
            return work(session)
    finally:
        database.close()


def _export(session: Session) -> tuple[str | None, list[dict[str, Any]]]:
    return service.instance_setting(session, SALT_SETTING), list(service.export_rows(session))


def _upgrade(url: str) -> str | None:
    database = db.Database(url, pool_size=1)
    try:
        backup = db.upgrade(database.engine)
        if backup:
            print(f"backed up {database.engine.url.database} to {backup}")
        return db.current_revision(database.engine)
    finally:
        database.close()


def _import(url: str, salt: str | None, rows: list[dict[str, Any]]) -> None:
    _upgrade(url)

    def work(session: Session) -> None:
        service.import_rows(session, rows)
        if salt:  # the ids of imported grids only stay the same with the same salt
            service.set_instance_setting(session, SALT_SETTING, salt)

    _run(url, work)


def _write_export(out: IO[str], salt: str | None, rows: list[dict[str, Any]]) -> None:
    out.write(json.dumps({"jupyter_blocks_export": 1, SALT_SETTING: salt}) + "\n")
    for row in rows:
        out.write(json.dumps(row) + "\n")


def _read_export(source: IO[str]) -> tuple[str | None, list[dict[str, Any]]]:
    header = json.loads(source.readline() or "{}")
    if header.get("jupyter_blocks_export") != 1:
        raise SystemExit("not a jupyter-blocks export (its first line is not the export header)")
    return header.get(SALT_SETTING), [json.loads(line) for line in source if line.strip()]


def _print_audit(url: str, limit: int, as_json: bool) -> None:
    """The audit trail, each deleted grid shown by the id its users saw."""

    def work(session: Session) -> list[dict[str, Any]]:
        ids = GridIds(service.instance_setting(session, SALT_SETTING) or "")
        return [
            {
                "deleted_at": entry.deleted_at.isoformat(),
                "deleted_by": entry.deleted_by,
                "by_moderator": entry.by_moderator,
                "grid": ids.for_row(entry.grid_row_id, entry.grid_secret_nonce),
                "author": entry.grid_author,
                "title": entry.grid_title,
            }
            for entry in service.deletions(session, limit)
        ]

    for entry in _run(url, work):
        if as_json:
            print(json.dumps(entry))
        else:
            who = "moderator " if entry["by_moderator"] else ""
            title = f" {entry['title']!r}" if entry["title"] else ""
            print(
                f"{entry['deleted_at'][:19]}  {who}{entry['deleted_by']} deleted "
                f"{entry['grid']}{title} by {entry['author']}"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="jupyter blocks", description=__doc__.split("\n")[0])
    parser.add_argument("--db-url", help="SQLAlchemy URL of the database (see below)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("upgrade-db", help="bring the schema to the newest revision")
    commands.add_parser("stats", help="how many grids, by whom")
    export = commands.add_parser("export", help="every grid as JSON lines")
    export.add_argument("file", nargs="?", type=argparse.FileType("w"), default=sys.stdout)
    load = commands.add_parser("import", help="load an export into an empty database")
    load.add_argument("file", type=argparse.FileType("r"))
    copy = commands.add_parser("copy", help="copy every grid into another, empty database")
    copy.add_argument("--to", required=True, help="SQLAlchemy URL of the target database")
    audit = commands.add_parser("audit", help="who deleted which grids, newest first")
    audit.add_argument("--limit", type=int, default=100, help="newest entries to list")
    audit.add_argument("--json", action="store_true", help="one JSON object per line")
    serve = commands.add_parser("serve", help="the gallery as a JupyterHub service")
    serve.add_argument("server_args", nargs=argparse.REMAINDER, help="jupyter_server options")
    hub = commands.add_parser("hub-config", help="print the jupyterhub_config.py fragment")
    hub.add_argument(
        "--db-url", dest="service_db_url", help="SQLAlchemy URL of the database the service holds"
    )
    hub.add_argument("--port", type=int, default=10101, help="the service's port on 127.0.0.1")
    hub.add_argument(
        "--url",
        default="",
        help="where the Hub's proxy reaches the service (default "
        "http://127.0.0.1:PORT; e.g. http://hub:10101 on Kubernetes)",
    )
    hub.add_argument(
        "--moderators-group", default="blocks-moderators", help="Hub group that may delete any grid"
    )
    hub.add_argument("--name", default="blocks", help="the service's name (URL /services/NAME/)")
    hub.add_argument(
        "--public-url", default="", help="where people open the Hub, e.g. https://hub.example.org/"
    )
    hub.add_argument(
        "--service-url",
        default="",
        help="the service's URL as users' servers reach it (default URL/services/NAME/)",
    )
    hub.add_argument("--pool-size", type=int, default=10, help="database connections it holds")
    args = parser.parse_args(argv)
    if args.command == "serve":
        from .hub.server import NotAHubService
        from .hub.server import serve as serve_gallery

        try:
            serve_gallery(args.server_args)
        except NotAHubService as error:
            raise SystemExit(f"jupyter blocks serve: {error}") from error
        return
    if args.command == "hub-config":
        service_db_url = args.service_db_url or args.db_url
        if not service_db_url:
            parser.error("hub-config needs --db-url: the database only the service will hold")
        from .hub.config import hub_config

        print(
            hub_config(
                service_db_url,
                name=args.name,
                url=args.url or f"http://127.0.0.1:{args.port}",
                moderators_group=args.moderators_group,
                public_url=args.public_url,
                service_url=args.service_url,
                pool_size=args.pool_size,
            )
        )
        return
    url = configured_db_url(args.db_url)

    try:
        if args.command == "upgrade-db":
            print(f"{_shown(url)}: schema at revision {_upgrade(url)}")
        elif args.command == "stats":
            print(json.dumps(_run(url, service.statistics), indent=2))
        elif args.command == "export":
            _write_export(args.file, *_run(url, _export))
        elif args.command == "import":
            salt, rows = _read_export(args.file)
            _import(url, salt, rows)
            print(f"imported {len(rows)} grids into {_shown(url)}")
        elif args.command == "audit":
            _print_audit(url, args.limit, args.json)
        elif args.command == "copy":
            salt, rows = _run(url, _export)
            _import(args.to, salt, rows)
            print(f"copied {len(rows)} grids from {_shown(url)} to {_shown(args.to)}")
    except (ValueError, db.UnsupportedDatabase) as error:
        raise SystemExit(f"jupyter blocks {args.command}: {error}") from error


if __name__ == "__main__":
    main()
