"""The class gallery on a real JupyterHub: `jupyter blocks serve` as a Hub-managed service.

The Hub (tests/gallery_hub.py, one per session) has a base config (its own test-admin service,
roles and spawner settings) plus exactly what `jupyter blocks hub-config` prints; the service
alone holds a real PostgreSQL database that already holds a gallery. Users alice, bob and a
moderator (in the Hub group blocks-moderators) work through their own servers, kernels and
browser sessions.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import zlib
from datetime import datetime, timezone

import psycopg
import pytest
import requests
import sqlalchemy as sa

from jupyter_blocks.ids import GridIds
from jupyter_blocks.models import Grid
from jupyter_blocks.service import SALT_SETTING
from tests import hubs
from tests.gallery_hub import DB_PASSWORD, POOL_SIZE, SERVICE, USERS, Hub
from tests.hubs import TIMEOUT
from tests.utils import grid_payload

__all__ = ["SERVICE", "USERS", "Hub", "hub"]  # the browser tests of the panel on a Hub use them


@pytest.fixture
def hub(gallery_hub: Hub) -> Hub:
    """The session's gallery Hub (tests/gallery_hub.py), shared with the browser tests."""
    return gallery_hub


def run_in_kernel(hub: Hub, server_owner: str, code: str, as_user: str | None = None) -> str:
    """Run `code` in a new kernel on `server_owner`'s server, with `as_user`'s credentials."""
    return hubs.run_in_kernel(hub.url, server_owner, hub.tokens[as_user or server_owner], code)


POST_FROM_KERNEL = """
%load_ext jupyter_blocks
from ipythonblocks import BlockGrid
grid = BlockGrid(4, 3, fill=(10, 200, 30))
grid[1, 2].rgb = (250, 0, 0)
print(grid.post_to_web())
"""


def post_from_kernel(hub: Hub, server_owner: str, as_user: str | None = None) -> str:
    """The id of a grid posted with the stock client from a kernel on that server."""
    url = run_in_kernel(hub, server_owner, POST_FROM_KERNEL, as_user).strip()
    assert url.startswith(hub.gallery("")), url
    return url.rsplit("/", 1)[1]


def authors_grid_count(hub: Hub, author: str) -> int:
    engine = sa.create_engine(hub.db_url)
    try:
        with engine.connect() as connection:
            return int(
                connection.scalar(
                    sa.select(sa.func.count()).select_from(Grid).where(Grid.author == author)
                )
                or 0
            )
    finally:
        engine.dispose()


def test_no_user_process_holds_the_database_credential(hub: Hub) -> None:
    seen = run_in_kernel(
        hub,
        "alice",
        "\n".join(
            [
                "import os, pathlib",
                "server_pid = int(os.environ['JPY_PARENT_PID'])",
                "print(repr(dict(os.environ)))",
                "print(pathlib.Path(f'/proc/{server_pid}/environ').read_bytes().decode(errors='replace'))",
                "print(open(f'/proc/{server_pid}/cmdline').read())",
                "from jupyter_core.paths import jupyter_data_dir",
                "sqlite = pathlib.Path(jupyter_data_dir()) / 'jupyter_blocks.sqlite'",
                "print('local database:', sqlite.exists())",
            ]
        ),
    )
    assert "JUPYTER_BLOCKS_SERVICE_URL" in seen  # it did read the server's environment
    assert DB_PASSWORD not in seen
    assert "JUPYTER_BLOCKS_DB_URL" not in seen and "postgresql" not in seen
    # the user's server opened no database of its own either
    assert "local database: False" in seen


def test_alice_shares_from_a_kernel_and_bob_opens_and_loads_it(hub: Hub) -> None:
    grid_id = post_from_kernel(hub, "alice")
    assert hub.grid(grid_id)["author"] == "alice"

    page = hub.as_user("bob").get(hub.gallery(grid_id), timeout=30)
    assert page.status_code == 200 and "alice" in page.text
    loaded = run_in_kernel(
        hub,
        "bob",
        "\n".join(
            [
                "%load_ext jupyter_blocks",
                "from ipythonblocks import BlockGrid",
                f"print(BlockGrid.from_web({grid_id!r})[1, 2].rgb)",
            ]
        ),
    )
    assert loaded.strip().endswith("(250, 0, 0)")
    # alice's own server's old-style links lead to the service page
    moved = hub.as_user("bob").get(
        f"{hub.url}user/bob/blocks/{grid_id}", allow_redirects=False, timeout=30
    )
    assert moved.status_code == 307
    assert moved.headers["Location"] == f"/services/{SERVICE}/blocks/{grid_id}"


def test_only_the_author_and_moderators_delete_and_every_delete_is_audited(hub: Hub) -> None:
    grid_id = post_from_kernel(hub, "alice")
    mod = hub.as_user("mod")
    assert mod.get(hub.gallery("api/me"), timeout=30).json() == {"author": "mod", "moderator": True}
    assert hub.as_user("bob").get(hub.gallery("api/me"), timeout=30).json() == {
        "author": "bob",
        "moderator": False,
    }
    listed = mod.get(hub.gallery("api/grids"), params={"author": "alice"}, timeout=30).json()
    assert all(item["can_delete"] and not item["owned"] for item in listed["items"])

    refused = hub.as_user("bob").delete(hub.gallery(f"api/grids/{grid_id}"), timeout=30)
    assert refused.status_code == 403
    assert mod.delete(hub.gallery(f"api/grids/{grid_id}"), timeout=30).status_code == 204
    assert mod.get(hub.gallery(f"api/grids/{grid_id}"), timeout=30).status_code == 404

    audit = subprocess.run(
        [sys.executable, "-m", "jupyter_blocks.cli", "--db-url", hub.db_url, "audit", "--json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    entries = [json.loads(line) for line in audit.splitlines()]
    entry = next(entry for entry in entries if entry["grid"] == grid_id)
    assert entry["deleted_by"] == "mod" and entry["author"] == "alice"
    assert entry["by_moderator"] is True
    deleted_at = datetime.fromisoformat(entry["deleted_at"])
    now = datetime.now(timezone.utc)
    assert (
        abs((now - deleted_at.replace(tzinfo=deleted_at.tzinfo or timezone.utc)).total_seconds())
        < 120
    )


ROGUE_SERVER = """
import os, secrets, socket, subprocess, sys, time, requests
with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
token = secrets.token_hex(8)
rogue = subprocess.Popen([sys.executable, "-m", "jupyter", "server", "--no-browser",
    "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
    "--allow-root", "--BlocksApp.default_author=alice"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    base = f"http://127.0.0.1:{port}/"
    for _ in range(240):
        try:
            if requests.get(base + "api/status", headers={"Authorization": f"token {token}"}).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.25)
    payload = {"ipb_class": "BlockGrid", "grid_data": {"lines_on": True, "width": 1,
               "height": 1, "blocks": [[[1, 2, 3, 20]]]}}
    for path in ("blocks/post", "blocks/api/grids"):
        answer = requests.post(base + path, json=payload,
                               headers={"Authorization": f"token {token}"})
        print(path, answer.status_code, answer.url)
finally:
    rogue.terminate(); rogue.wait()
"""


def test_a_server_a_student_starts_cannot_post_as_someone_else(hub: Hub) -> None:
    before = authors_grid_count(hub, "alice")
    print(run_in_kernel(hub, "bob", ROGUE_SERVER))
    assert authors_grid_count(hub, "alice") == before


def test_forty_concurrent_posts_stay_within_the_service_pool(hub: Hub) -> None:
    before = {name: authors_grid_count(hub, name) for name in ("alice", "bob")}
    observed: list[int] = []
    done = threading.Event()
    database = hub.db_url.rsplit("/", 1)[1]
    admin_url = hub.db_url.replace("+psycopg", "")

    def watch() -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            while not done.is_set():
                count = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = %s AND application_name = 'jupyter-blocks'",
                    (database,),
                ).fetchone()
                observed.append(int(count[0]) if count else 0)
                time.sleep(0.05)

    twenty_posts = "\n".join(
        [
            "%load_ext jupyter_blocks",
            "from concurrent.futures import ThreadPoolExecutor",
            "from ipythonblocks import BlockGrid",
            "import jupyter_blocks.client as client",
            "def post(number):",
            "    grid = BlockGrid(30, 30, fill=(number, 100, 200))",
            "    try:",
            "        return client.post(grid, title=f'load {number}').rsplit('/', 1)[1]",
            "    except client.BlocksRequestError as error:",
            "        return f'error {error.status}'",
            "with ThreadPoolExecutor(20) as pool:",
            "    print(list(pool.map(post, range(20))))",
        ]
    )
    watcher = threading.Thread(target=watch)
    watcher.start()
    results: dict[str, str] = {}
    try:
        kernels = [
            threading.Thread(
                target=lambda name=name: results.update(
                    {name: run_in_kernel(hub, name, twenty_posts)}
                )
            )
            for name in ("alice", "bob")
        ]
        for thread in kernels:
            thread.start()
        for thread in kernels:
            thread.join(timeout=TIMEOUT * 2)
    finally:
        done.set()
        watcher.join()
    for name in ("alice", "bob"):
        answers = re.findall(r"'([^']*)'", results[name])
        assert len(answers) == 20 and not any(a.startswith("error") for a in answers), results
        assert authors_grid_count(hub, name) == before[name] + 20
    assert observed and max(observed) <= POOL_SIZE


def test_in_a_shared_server_the_browser_acts_as_its_user_and_the_kernel_as_the_owner(
    hub: Hub,
) -> None:
    shared = hub.admin.post(f"{hub.url}hub/api/shares/alice/", json={"user": "bob"}, timeout=30)
    assert shared.status_code in (200, 201), shared.text

    # code in alice's kernels acts as alice, whoever typed it
    grid_id = post_from_kernel(hub, "alice", as_user="bob")
    assert hub.grid(grid_id)["author"] == "alice"

    # bob's browser in alice's JupyterLab: the panel is pointed at the service...
    browser = hub.browser("bob")
    lab = hub.authorize(browser, browser.get(f"{hub.url}user/alice/lab", timeout=60))
    assert lab.status_code == 200, lab.text[:300]
    config = json.loads(
        re.search(
            r'id="jupyter-config-data"[^>]*>(.*?)</script>',
            lab.text,
            re.S,
        ).group(1)
    )
    assert config["jupyterBlocksServiceUrl"] == f"/services/{SERVICE}/blocks/"
    # ...where the Hub names bob, as the panel's hidden iframe finds out
    session_page = browser.get(hub.gallery("session"), timeout=60)
    assert session_page.status_code == 200, session_page.text[:300]
    assert 'data-author="bob"' in session_page.text
    xsrf = re.search(r'data-xsrf-token="([^"]+)"', session_page.text).group(1)
    panel = {"X-XSRFToken": xsrf, "Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"}
    me = browser.get(hub.gallery("api/me"), headers=panel, timeout=30)
    assert me.json() == {"author": "bob", "moderator": False}
    # bob may not delete alice's grid from there, but may delete his own
    refused = browser.delete(hub.gallery(f"api/grids/{grid_id}"), headers=panel, timeout=30)
    assert refused.status_code == 403
    own = browser.post(hub.gallery("api/grids"), json=grid_payload(5), headers=panel, timeout=30)
    assert own.status_code == 201 and own.json()["author"] == "bob"
    deleted = browser.delete(
        hub.gallery(f"api/grids/{own.json()['id']}"), headers=panel, timeout=30
    )
    assert deleted.status_code == 204
    # a write without the token is refused (cross-site request forgery)
    forged = browser.delete(hub.gallery(f"api/grids/{grid_id}"), timeout=30)
    assert forged.status_code == 403 and hub.grid(grid_id)["author"] == "alice"


def test_a_row_planted_in_the_database_renders_inert(hub: Hub) -> None:
    markup = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    short = "<script>alert(3)</script>"  # for the 32-character columns
    engine = sa.create_engine(hub.db_url)
    try:
        with engine.begin() as connection:
            row_id = connection.scalar(
                sa.insert(Grid)
                .values(
                    secret=False,
                    author=markup,
                    title=markup,
                    ipb_class=short,
                    ipb_version=short,
                    python_version=[markup],
                    width=2,
                    height=1,
                    lines_on=True,
                    grid_json=json.dumps(
                        {
                            "lines_on": markup,
                            "width": 2,
                            "height": 1,
                            "blocks": [[[markup, 0, 0, markup], [1, 2, 3, 10]]],
                        }
                    ),
                    # pages draw from these: bytes, numbers only, whatever they hold
                    pixels=zlib.compress(bytes([60, 62, 47, 0, 1, 2, 3, 10])),
                    code_cells=[markup, "</pre>" + markup],
                    thumbnail_svg=f"<svg xmlns='http://www.w3.org/2000/svg'><script>{markup}</script></svg>",
                    created_at=datetime.now(timezone.utc),
                )
                .returning(Grid.id)
            )
            salt = connection.scalar(
                sa.text("SELECT value FROM instance_settings WHERE key = :k"), {"k": SALT_SETTING}
            )
    finally:
        engine.dispose()
    grid_id = GridIds(salt).public(row_id)
    bob = hub.as_user("bob")
    for path in (grid_id, ""):
        page = bob.get(hub.gallery(path), timeout=30)
        assert page.status_code == 200, page.text[:500]
        assert "<script>" not in page.text and "<img src=x" not in page.text
        policy = page.headers["Content-Security-Policy"]
        assert (
            "script-src 'self'" in policy
            and "unsafe-inline'; img" not in policy.split("script-src", 1)[1].split(";")[0]
        )
    thumbnail = bob.get(hub.gallery(f"api/grids/{grid_id}/thumbnail.svg"), timeout=30)
    assert thumbnail.status_code == 200
    assert "sandbox" in thumbnail.headers["Content-Security-Policy"]
    assert "default-src 'none'" in thumbnail.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "path",
    [
        "api/kernels",
        "api/contents",
        "api/sessions",
        "api/terminals",
        "files/jupyterhub_config.py",
        "lab",
        "tree",
        "api/kernelspecs",
        "api/config/notebook",
    ],
)
def test_the_service_serves_the_gallery_and_nothing_else(hub: Hub, path: str) -> None:
    response = hub.as_user("alice").get(f"{hub.url}services/{SERVICE}/{path}", timeout=30)
    assert response.status_code == 404


def test_the_service_buffers_no_body_bigger_than_a_grid_may_be(hub: Hub) -> None:
    """Bodies over their route's limit are thrown away as they come and refused with 413 JSON,
    also through the Hub's proxy, never buffered up to jupyter_server's 512 MB."""
    alice = hub.as_user("alice")
    grid_id = alice.post(hub.gallery("api/grids"), json=grid_payload(2), timeout=30).json()["id"]
    for method, path, limit in [
        ("POST", "api/grids", 8388608),
        ("PATCH", f"api/grids/{grid_id}", 65536),
    ]:
        refused = alice.request(method, hub.gallery(path), data=b"x" * (9 << 20), timeout=60)
        assert refused.status_code == 413, refused.text
        assert f"{limit} bytes" in refused.json()["message"]
    assert alice.get(hub.gallery("api/me"), timeout=30).json()["author"] == "alice"


def test_a_gallery_already_in_the_database_keeps_its_ids(hub: Hub) -> None:
    record = hub.grid(hub.old_grid["id"])
    assert record["author"] == "carol"
    assert record["grid_data"] == hub.old_grid["grid_data"]


def test_a_moderator_the_hub_cannot_vouch_for_has_no_rights_until_it_can(hub: Hub) -> None:
    """Fail closed: while the Hub does not answer, a user removed from the moderators group
    deletes nothing, though the service's Hub client still holds their token's model from when
    they were in it; once the Hub answers, what it says counts at once (the failure was not
    kept)."""
    admin, api = hub.admin, f"{hub.url}hub/api/"
    assert admin.post(f"{api}users/exmod", timeout=30).status_code == 201
    group = f"{api}groups/blocks-moderators/users"
    assert admin.post(group, json={"users": ["exmod"]}, timeout=30).ok
    issued = admin.post(f"{api}users/exmod/tokens", json={"note": "test"}, timeout=30)
    exmod = requests.Session()
    exmod.headers["Authorization"] = f"token {issued.json()['token']}"
    # The service's Hub client keeps the token's model (groups and all) for minutes; this
    # route asks nobody whether the user is a moderator.
    assert exmod.get(f"{hub.url}services/{SERVICE}/api/status", timeout=30).ok
    grid_id = (
        hub.as_user("alice")
        .post(hub.gallery("api/grids"), json=grid_payload(2), timeout=30)
        .json()["id"]
    )
    assert admin.delete(group, json={"users": ["exmod"]}, timeout=30).ok

    with hubs.frozen(hub):
        refused = exmod.delete(hub.gallery(f"api/grids/{grid_id}"), timeout=60)
    assert refused.status_code == 403, refused.text

    assert admin.post(group, json={"users": ["exmod"]}, timeout=30).ok
    assert exmod.get(hub.gallery("api/me"), timeout=30).json() == {
        "author": "exmod",
        "moderator": True,
    }
    assert exmod.delete(hub.gallery(f"api/grids/{grid_id}"), timeout=30).status_code == 204
