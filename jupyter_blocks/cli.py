"""`jupyter blocks ...`: administer a jupyter-blocks database from the command line.

    jupyter blocks upgrade-db            bring the schema to the newest revision
    jupyter blocks stats                 how many grids, by whom
    jupyter blocks export [FILE]         every grid (secret ones too) as JSON lines
    jupyter blocks import FILE           load an export into an empty database, ids unchanged
    jupyter blocks copy --to URL         the same, straight into another database

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
    args = parser.parse_args(argv)
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
        elif args.command == "copy":
            salt, rows = _run(url, _export)
            _import(args.to, salt, rows)
            print(f"copied {len(rows)} grids from {_shown(url)} to {_shown(args.to)}")
    except (ValueError, db.UnsupportedDatabase) as error:
        raise SystemExit(f"jupyter blocks {args.command}: {error}") from error


if __name__ == "__main__":
    main()
