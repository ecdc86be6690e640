"""`jupyter blocks ...`: administer a jupyter-blocks database from the command line.

    jupyter blocks upgrade-db            bring the schema to the newest revision
    jupyter blocks stats                 how many grids, by whom
    jupyter blocks export [FILE]         every grid (secret ones too) as JSON lines
    jupyter blocks import FILE           load an export into an empty database, ids unchanged
    jupyter blocks copy --to URL         the same, straight into another database
    jupyter blocks audit                 who deleted which grids, newest first
    jupyter blocks serve                 the gallery as a JupyterHub service (run by the Hub)
    jupyter blocks hub-config --db-url URL [--port N] [--name NAME] [--public-url URL]
                              [--subdomain-host URL] [--service-user USER]
                                         print the jupyterhub_config.py fragment for it

The database is the one the server would use: `--db-url URL` (before or after the command),
else `c.BlocksApp.db_url` from the Jupyter server config files, else JUPYTER_BLOCKS_DB_URL,
else the default SQLite file in the Jupyter data directory. Every command says on stderr which
database it uses and where that came from (password hidden); `stats` and `audit` also say when
it holds no grids and no deletions, which is what a wrong database looks like.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from . import db, service
from .ids import GridIds
from .models import Grid
from .service import SALT_SETTING
from .text import text_problem

if TYPE_CHECKING:  # the server application is slow to import
    from .app import BlocksApp

T = TypeVar("T")


def configured_app() -> BlocksApp:
    """The settings a Jupyter server here would use: its config files, then the environment."""
    # jupyter_server takes seconds to import: only when a setting has to come from its config
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config.application import Application

    from .app import BlocksApp

    app = BlocksApp()
    Application.load_config_file(app, "jupyter_server_config", path=jupyter_config_path())
    app._apply_environment()
    return app


def configured_db_url(explicit: str | None) -> str:
    return configured_database(explicit)[0]


def configured_database(explicit: str | None) -> tuple[str, str]:
    """The database URL a command uses, and where it came from (said to the user)."""
    if explicit:
        return explicit, "from --db-url"
    app = configured_app()
    if "db_url" in app.config.get("BlocksApp", {}):
        origin = "from c.BlocksApp.db_url in the Jupyter server config"
    elif os.environ.get("JUPYTER_BLOCKS_DB_URL"):
        origin = "from JUPYTER_BLOCKS_DB_URL"
    else:
        origin = "the default: no --db-url, JUPYTER_BLOCKS_DB_URL or c.BlocksApp.db_url was given"
    return str(app.db_url), origin


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _say(command: str, text: str) -> None:
    """A line for the person at the terminal, on stderr (stdout is the command's output)."""
    print(f"jupyter blocks {command}: {text}", file=sys.stderr, flush=True)


WRONG_DATABASE_HINT = (
    "Name the gallery's database with --db-url URL (or JUPYTER_BLOCKS_DB_URL); "
    "on a JupyterHub it is the service's JUPYTER_BLOCKS_DB_URL"
)


class NotAGallery(Exception):
    """A command that only reads was pointed at something that holds no gallery."""


def _existing(url: str) -> None:
    """Refuse a SQLite file that does not exist, rather than create an empty one and read it."""
    parsed = make_url(url)
    path = parsed.database or ""
    if not _is_sqlite_file(parsed.get_backend_name(), path):
        return
    if not Path(path).exists():
        raise NotAGallery(
            f"there is no database at {path} (nothing was created). {WRONG_DATABASE_HINT}"
        )


def _is_sqlite_file(backend: str, path: str) -> bool:
    return backend == "sqlite" and path not in ("", ":memory:") and not path.startswith("file:")


def _run(url: str, work: Callable[[Session], T], *, reading: bool = False) -> T:
    """`work` in one session on the database at `url`; `reading`: refuse a database that holds
    no jupyter-blocks schema instead of failing on a missing table."""
    if reading:
        _existing(url)
    database = db.Database(url, connections=2)
    try:
        if reading:
            _require_schema(database, url)
        with db.session_context(database.sessions) as session:
            return work(session)
    finally:
        database.close()


def _require_schema(database: db.Database, url: str) -> None:
    if db.current_revision(database.engine) is None:
        raise NotAGallery(
            f"{_shown(url)} holds no jupyter-blocks tables (nothing was changed). "
            + WRONG_DATABASE_HINT
        )


def _upgrade(url: str) -> str | None:
    database = db.Database(url, connections=2)
    try:
        backup = db.upgrade(database.engine)
        if backup:
            print(f"backed up {database.engine.url.database} to {backup}")
        return db.current_revision(database.engine)
    finally:
        database.close()


class Progress:
    """How far a long command has got: on a terminal one line redrawn in place (count, rate,
    time left), otherwise a plain line every few seconds, for logs."""

    def __init__(self, verb: str, stream: IO[str] | None = None) -> None:
        self.verb = verb
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = 0.2 if self.tty else 5.0
        self.started = self.shown = time.monotonic()

    def update(self, count: int, fraction: float | None) -> None:
        now = time.monotonic()
        if now - self.shown >= self.interval:
            self.shown = now
            self._show(self._line(count, fraction, now))

    def done(self, count: int) -> None:
        self._show(self._line(count, 1.0, time.monotonic()))
        if self.tty:
            self.stream.write("\n")

    def note(self, text: str) -> None:
        """A line of its own (e.g. a skipped row), not overwritten by the progress line."""
        self.stream.write(("\r\x1b[K" if self.tty else "") + text + "\n")
        self.stream.flush()

    def _line(self, count: int, fraction: float | None, now: float) -> str:
        elapsed = max(now - self.started, 1e-6)
        line = f"{self.verb} {count:,} grids, {count / elapsed:,.0f}/s"
        if fraction is not None and 0 < fraction <= 1:
            left = elapsed / fraction - elapsed
            line += f", {fraction:.0%} done, {_duration(left)} left"
        return line

    def _show(self, line: str) -> None:
        self.stream.write(f"\r{line}\x1b[K" if self.tty else line + "\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


# Rows are read, checked and written this many at a time: memory stays flat however many.
BATCH_ROWS = 500
_REQUIRED = {
    "id": int,
    "secret": bool,
    "author": str,
    "ipb_class": str,
    "width": int,
    "height": int,
    "grid_data": dict,
    "thumbnail_svg": str,
    "created_at": str,
}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)


class Unreadable(str):
    """In place of a row: why its line could not be read."""


def row_problem(row: Any) -> str | None:
    """Why an exported row cannot be stored (by any supported database), or None. The same
    text rule as the server's: no NUL, no lone surrogates, no text longer than its column."""
    if isinstance(row, Unreadable):
        return str(row)
    if not isinstance(row, dict):
        return "not a JSON object"
    for name, kind in _REQUIRED.items():
        if type(row.get(name)) is not kind:
            return f"{name} must be a {kind.__name__}"
    columns = Grid.__table__.columns
    for name, value in row.items():
        if name not in columns:
            continue
        for text in _strings(value):
            problem = text_problem(text)
            if problem:
                return f"{name} {problem}"
        length = getattr(columns[name].type, "length", None)
        if length is not None and isinstance(value, str) and len(value) > length:
            return f"{name} must be at most {length} characters"
    try:
        datetime.fromisoformat(row["created_at"])
    except ValueError:
        return "created_at is not an ISO date"
    return None


@dataclass
class Loaded:
    stored: int = 0
    skipped: int = 0


def _load(
    url: str, salt: str | None, last_row_id: int, rows: Iterable[tuple[str, Any, float | None]]
) -> Loaded:
    """Store `rows` ((where, row, fraction done)) into the empty database at `url` in one
    transaction, BATCH_ROWS at a time; a row that cannot be stored is reported and skipped."""
    _upgrade(url)
    progress, loaded = Progress("stored"), Loaded()
    # the stored columns, and the grid data they are made from (service.stored_row)
    columns = set(Grid.__table__.columns.keys()) | {"grid_data"}

    def work(session: Session) -> None:
        service.require_empty(session)
        batch: list[dict[str, Any]] = []
        for where, row, fraction in rows:
            problem = row_problem(row)
            if problem:
                loaded.skipped += 1
                progress.note(f"skipped {where}: {problem}")
                continue
            batch.append({name: value for name, value in row.items() if name in columns})
            if len(batch) >= BATCH_ROWS:
                service.insert_rows(session, batch)
                loaded.stored += len(batch)
                batch.clear()
                progress.update(loaded.stored, fraction)
        if batch:
            service.insert_rows(session, batch)
            loaded.stored += len(batch)
        service.never_reuse_row_ids(session, last_row_id)
        if salt:  # the ids of imported grids only stay the same with the same salt
            service.set_instance_setting(session, SALT_SETTING, salt)

    _run(url, work)
    progress.done(loaded.stored)
    return loaded


def _export_header(session: Session) -> dict[str, Any]:
    return {
        "jupyter_blocks_export": 1,
        SALT_SETTING: service.instance_setting(session, SALT_SETTING),
        "last_row_id": service.last_row_id(session),
    }


def _export(url: str, out: IO[str]) -> int:
    progress = Progress("exported")

    def work(session: Session) -> int:
        total = service.count_grids(session)
        out.write(json.dumps(_export_header(session)) + "\n")
        count = 0
        for count, row in enumerate(service.export_rows(session, BATCH_ROWS), 1):
            out.write(json.dumps(row) + "\n")
            progress.update(count, count / total)
        return count

    count = _run(url, work, reading=True)
    progress.done(count)
    return count


def _import(url: str, source: IO[str]) -> Loaded:
    header = _read_header(source)
    size = os.fstat(source.fileno()).st_size if source.seekable() else 0

    def rows() -> Iterator[tuple[str, Any, float | None]]:
        read = 0
        for number, line in enumerate(source, 2):
            read += len(line)  # exports are ASCII: characters are bytes
            if not line.strip():
                continue
            fraction = read / size if size else None
            try:
                yield f"line {number}", json.loads(line), fraction
            except ValueError as error:
                yield f"line {number}", Unreadable(f"not JSON: {error}"), fraction

    return _load(url, header.get(SALT_SETTING), int(header.get("last_row_id") or 0), rows())


def _copy(url: str, target: str) -> Loaded:
    _existing(url)
    database = db.Database(url, connections=2)
    try:
        _require_schema(database, url)
        with db.session_context(database.sessions) as session:
            header, total = _export_header(session), service.count_grids(session)
            rows = (
                (f"grid row {row['id']}", row, number / total)
                for number, row in enumerate(service.export_rows(session, BATCH_ROWS), 1)
            )
            return _load(target, header[SALT_SETTING], header["last_row_id"], rows)
    finally:
        database.close()


def _read_header(source: IO[str]) -> dict[str, Any]:
    try:
        header = json.loads(source.readline() or "{}")
    except ValueError:
        header = {}
    if not isinstance(header, dict) or header.get("jupyter_blocks_export") != 1:
        raise SystemExit("not a jupyter-blocks export (its first line is not the export header)")
    return header


def _print_audit(url: str, limit: int, as_json: bool) -> None:
    """The audit trail, each deleted grid shown by the id its users saw."""
    settings = configured_app()

    def work(session: Session) -> tuple[list[dict[str, Any]], int]:
        # the ids the servers show: their configured salt, else the one stored in the database
        salt = settings.hashids_salt or service.instance_setting(session, SALT_SETTING) or ""
        ids = GridIds(salt, settings.hashids_min_length)
        entries = [
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
        return entries, 0 if entries else service.count_grids(session)

    entries, grids = _run(url, work, reading=True)
    for entry in entries:
        if as_json:
            print(json.dumps(entry))
        else:
            who = "moderator " if entry["by_moderator"] else ""
            title = f" {entry['title']!r}" if entry["title"] else ""
            print(
                f"{entry['deleted_at'][:19]}  {who}{entry['deleted_by']} deleted "
                f"{entry['grid']}{title} by {entry['author']}"
            )
    if not entries and grids:
        _say("audit", f"no grid was ever deleted in {_shown(url)} (it holds {grids:,} grids)")
    elif not entries:
        _say("audit", f"warning: {_shown(url)} {LOOKS_WRONG}")


# What `stats` and `audit` say of a database that holds no gallery's traces at all.
LOOKS_WRONG = (
    "holds no grids and no deletions: is it the gallery's database? " + WRONG_DATABASE_HINT
)


def _print_stats(url: str) -> None:
    def work(session: Session) -> tuple[dict[str, Any], int]:
        stats = service.statistics(session)
        empty = not (stats["public"] or stats["secret"])
        return stats, len(service.deletions(session, 1)) if empty else 0

    stats, deletions = _run(url, work, reading=True)
    print(json.dumps(stats, indent=2))
    if not (stats["public"] or stats["secret"] or deletions):
        _say("stats", f"warning: {_shown(url)} {LOOKS_WRONG}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="jupyter blocks",
        description=__doc__.split("\n")[0],
        epilog=__doc__.split("\n\n")[-1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db-url", help="SQLAlchemy URL of the database (see below)")
    # `--db-url` after the command too (`jupyter blocks audit --db-url URL`); SUPPRESS keeps a
    # command without it from overwriting one given before the command.
    database = argparse.ArgumentParser(add_help=False)
    database.add_argument(
        "--db-url", default=argparse.SUPPRESS, help="SQLAlchemy URL of the database"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, parents=[database])

    command("upgrade-db", "bring the schema to the newest revision")
    command("stats", "how many grids, by whom")
    export = command("export", "every grid as JSON lines")
    export.add_argument("file", nargs="?", type=argparse.FileType("w"), default=sys.stdout)
    load = command("import", "load an export into an empty database")
    load.add_argument("file", type=argparse.FileType("r"))
    copy = command("copy", "copy every grid into another, empty database")
    copy.add_argument("--to", required=True, help="SQLAlchemy URL of the target database")
    audit = command("audit", "who deleted which grids, newest first")
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
    hub.add_argument(
        "--subdomain-host",
        default="",
        help="set the Hub's c.JupyterHub.subdomain_host, e.g. https://hub.example.org (default: "
        "as the config above the fragment sets it); see the README's Security section",
    )
    hub.add_argument(
        "--service-user",
        default="",
        help="the Unix user the Hub (run as root) runs the service as, not one of users' servers",
    )
    args, unknown = parser.parse_known_args(argv)
    if args.command == "serve":
        from .hub.server import NotAHubService
        from .hub.server import serve as serve_gallery

        # Everything after the command is jupyter_server's (`serve --ServerApp.port=N`):
        # argparse's REMAINDER takes nothing when its first argument looks like an option.
        given = sys.argv[1:] if argv is None else argv
        try:
            serve_gallery(given[given.index("serve") + 1 :])
        except NotAHubService as error:
            raise SystemExit(f"jupyter blocks serve: {error}") from error
        return
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
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
                subdomain_host=args.subdomain_host,
                service_user=args.service_user,
            )
        )
        if not args.subdomain_host:
            _say(
                "hub-config",
                "no --subdomain-host: unless the Hub's config sets c.JupyterHub.subdomain_host "
                "above the fragment, users' servers share one origin with the gallery and the "
                "Hub; set c.Spawner.disable_user_config = True there (README, Security)",
            )
        return
    url, origin = configured_database(args.db_url)
    verb = {"upgrade-db": "upgrading", "import": "writing into", "copy": "copying from"}
    _say(args.command, f"{verb.get(args.command, 'reading')} {_shown(url)} ({origin})")

    try:
        if args.command == "upgrade-db":
            print(f"{_shown(url)}: schema at revision {_upgrade(url)}")
        elif args.command == "stats":
            _print_stats(url)
        elif args.command == "export":
            _export(url, args.file)
        elif args.command == "import":
            loaded = _import(url, args.file)
            print(f"imported {loaded.stored} grids into {_shown(url)}{_skipped(loaded)}")
        elif args.command == "audit":
            _print_audit(url, args.limit, args.json)
        elif args.command == "copy":
            loaded = _copy(url, args.to)
            print(
                f"copied {loaded.stored} grids from {_shown(url)} to {_shown(args.to)}"
                f"{_skipped(loaded)}"
            )
    except NotAGallery as error:
        raise SystemExit(f"jupyter blocks {args.command}: {error}") from error
    except (ValueError, db.UnsupportedDatabase) as error:
        raise SystemExit(f"jupyter blocks {args.command}: {error}") from error
    except sa.exc.SQLAlchemyError as error:
        cause = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise SystemExit(
            f"jupyter blocks {args.command}: stopped, nothing was stored: {cause}"
        ) from error


def _skipped(loaded: Loaded) -> str:
    return f" (skipped {loaded.skipped} bad rows, listed above)" if loaded.skipped else ""


if __name__ == "__main__":
    main()
