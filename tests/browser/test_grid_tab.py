"""A grid's tab: rename, Download PNG, remix links, restored tabs of deleted grids, and how fast
a 500x500 grid opens (measured with the Performance API and reported, not asserted tightly)."""

from __future__ import annotations

import json
import re
import statistics
import time

import pytest
from playwright.sync_api import Error, Page, expect

from tests.utils import ARTIFACTS, Server, grid_payload

from .servers import Seeded
from .ui import LOAD_TIMEOUT, SIDEBAR_TAB, grid_tab, open_lab, pixel_at

pytestmark = pytest.mark.browser

TOOLBAR_ITEM = '.jp-Toolbar-item[data-jp-item-name="{}"]'


def open_grid(page: Page, grid_id: str) -> None:
    page.evaluate(
        "id => window.jupyterapp.commands.execute('jupyter-blocks:open-grid', {id})", grid_id
    )


def test_author_renames_a_grid_in_its_tab(
    page: Page, page_errors: list[Error], lab: Server, bob: Server, seeded: Seeded
) -> None:
    mine = lab.post_grid(grid_payload(40, title="Before the rename"))
    theirs = bob.post_grid(grid_payload(41, title="Bob's, not mine"))
    open_lab(page, lab)
    open_grid(page, mine["id"])
    tab = grid_tab(page, mine["id"])
    expect(tab.locator(".jp-BlocksGridView-title")).to_have_text("Before the rename")

    tab.locator(TOOLBAR_ITEM.format("rename")).click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog.locator("input")).to_have_value("Before the rename")
    dialog.locator("input").fill("After the rename")
    dialog.get_by_role("button", name="Rename").click()

    expect(tab.locator(".jp-BlocksGridView-title")).to_have_text("After the rename")
    dock_tab = page.locator(f'.lm-TabBar-tab[data-id="jupyter-blocks-grid-{mine["id"]}"]')
    expect(dock_tab).to_contain_text("After the rename")
    assert lab.api("GET", f"api/grids/{mine['id']}").json()["title"] == "After the rename"

    # Someone else's grid: no rename.
    open_grid(page, theirs["id"])
    other = grid_tab(page, theirs["id"])
    expect(other.locator(".jp-BlocksGridView-title")).to_have_text("Bob's, not mine")
    expect(other.locator(TOOLBAR_ITEM.format("download-png"))).to_be_visible()
    expect(other.locator(TOOLBAR_ITEM.format("rename"))).to_have_count(0)


def test_download_png_saves_the_servers_image(
    page: Page, page_errors: list[Error], lab: Server, seeded: Seeded
) -> None:
    grid = lab.post_grid(grid_payload(42, title="Neon / rings: PNG"))
    open_lab(page, lab)
    open_grid(page, grid["id"])
    tab = grid_tab(page, grid["id"])
    with page.expect_download() as download_info:
        tab.locator(TOOLBAR_ITEM.format("download-png")).click()
    download = download_info.value
    assert download.suggested_filename == "Neon-rings-PNG.png"
    path = download.path()
    assert path is not None
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert data == lab.api("GET", f"api/grids/{grid['id']}/image.png").content


def test_remix_links_lead_both_ways(
    page: Page, page_errors: list[Error], lab: Server, bob: Server, seeded: Seeded
) -> None:
    original = lab.post_grid(grid_payload(43, title="The original"))
    remix = bob.post_grid(grid_payload(44, title="Bob's remix", parent=original["id"]))
    open_lab(page, lab)
    open_grid(page, original["id"])
    tab = grid_tab(page, original["id"])

    remixes = tab.locator('dd[data-field="remixes"] a')
    expect(remixes).to_have_text(["Bob's remix by bob"])
    remixes.first.click()

    remix_tab = grid_tab(page, remix["id"])
    expect(remix_tab.locator(".jp-BlocksGridView-title")).to_have_text("Bob's remix")
    parent = remix_tab.locator('dd[data-field="parent"] a')
    expect(parent).to_have_text(original["id"])
    parent.click()
    dock_tab = page.locator(f'.lm-TabBar-tab[data-id="jupyter-blocks-grid-{original["id"]}"]')
    expect(dock_tab).to_have_class(re.compile(r"\blm-mod-current\b"))
    expect(page.locator('.lm-TabBar-tab[data-id^="jupyter-blocks-grid-"]')).to_have_count(2)


def test_restored_tab_of_a_deleted_grid_closes_with_a_notice(
    page: Page, page_errors: list[Error], lab: Server, seeded: Seeded
) -> None:
    grid = lab.post_grid(grid_payload(45, title="Soon gone"))
    open_lab(page, lab)
    open_grid(page, grid["id"])
    expect(grid_tab(page, grid["id"]).locator(".jp-BlocksGridView-title")).to_have_text("Soon gone")
    # Wait until JupyterLab saved the open tab in its workspace.
    deadline = time.monotonic() + 15
    while f"jupyter-blocks-grid:{grid['id']}" not in workspace(lab):
        assert time.monotonic() < deadline, "the workspace never listed the grid tab"
        time.sleep(0.25)
    assert lab.api("DELETE", f"api/grids/{grid['id']}").status_code == 204

    page.goto(f"{lab.url}lab?token={lab.token}", timeout=LOAD_TIMEOUT)  # restores the layout
    page.locator(SIDEBAR_TAB).wait_for(timeout=LOAD_TIMEOUT)
    expect(page.locator(".jp-toast-message, .Toastify__toast").first).to_contain_text(
        f"The grid {grid['id']} no longer exists; its tab was closed."
    )
    expect(grid_tab(page, grid["id"])).to_have_count(0)
    expect(page.get_by_role("button", name="Retry")).to_have_count(0)


def workspace(server: Server) -> str:
    response = server.session.get(f"{server.url}lab/api/workspaces/default", timeout=30)
    return response.text if response.status_code == 200 else ""


def test_open_a_500x500_grid_and_report_the_time(
    page: Page, page_errors: list[Error], lab: Server, seeded: Seeded
) -> None:
    grid = lab.post_grid(grid_payload(46, width=500, height=500, title="Half a million"))
    open_lab(page, lab)
    runs = [measure_open(page, grid["id"]) for _ in range(3)]
    report = {
        "what": "open a 500x500 grid in its tab: command to canvas painted (Performance API)",
        "goal_ms": 300,
        "total_ms": [run["total"] for run in runs],
        "median_total_ms": statistics.median(run["total"] for run in runs),
        # Of which, by Resource Timing, at the same time: the record without its blocks
        # (GET api/grids/<id>?blocks=false) and the packed blocks (api/grids/<id>/pixels) ...
        "record_request_ms": [run["record"] for run in runs],
        "pixels_request_ms": [run["pixels"] for run in runs],
        # ... and after the later of the two, the panel: unpack, lay out and paint the canvas.
        "panel_ms": [run["panel"] for run in runs],
    }
    (ARTIFACTS / "panel-open-500x500.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nopen 500x500 grid: {report}")

    open_grid(page, grid["id"])
    canvas = grid_tab(page, grid["id"]).locator("canvas.jp-BlocksGrid")
    # 10,501 px of blocks and lines, drawn on a 2048 px canvas, fitted to the tab's width.
    assert canvas.evaluate("c => [c.style.width, c.width, c.height]") == ["10501px", 2048, 2048]
    tab_width = grid_tab(page, grid["id"]).evaluate("tab => tab.clientWidth")
    assert canvas.bounding_box()["width"] <= tab_width  # type: ignore[index]
    blocks = grid["grid_data"]["blocks"]
    assert pixel_at(canvas, 0, 0) == blocks[0][0][:3]
    assert pixel_at(canvas, 499, 499) == blocks[499][499][:3]
    assert pixel_at(canvas, 250, 123) == blocks[250][123][:3]
    # Not a tight bound (a loaded 2-core machine; the goal is 300 ms), but the table the canvas
    # replaced took 6.5 s, and drawing from the record's JSON 1.1-1.5 s under load.
    assert min(report["total_ms"]) < 1000, report


def measure_open(page: Page, grid_id: str) -> dict[str, float]:
    """Milliseconds from the open command to the canvas painted, the time of the record's and
    the pixels' requests, and what followed the later one (the panel's own work); closes the
    tab after."""
    return page.evaluate(
        """async id => {
            const selector = `[id="jupyter-blocks-grid-${id}"] canvas.jp-BlocksGrid`;
            const nextFrame = () => new Promise(resolve => requestAnimationFrame(resolve));
            performance.mark('blocks-open-start');
            await window.jupyterapp.commands.execute('jupyter-blocks:open-grid', {id});
            while (!document.querySelector(selector)) {
                await nextFrame();
            }
            await nextFrame();  // painted
            performance.mark('blocks-open-end');
            const measure = performance.measure(
                'jupyter-blocks:open-grid', 'blocks-open-start', 'blocks-open-end'
            );
            const resources = performance.getEntriesByType('resource');
            const last = path => resources.filter(entry => entry.name.includes(path)).pop();
            const record = last(`api/grids/${id}?blocks=false`);
            const pixels = last(`api/grids/${id}/pixels`);
            await window.jupyterapp.commands.execute('application:close-all');
            while (document.querySelector(selector)) {
                await nextFrame();
            }
            performance.clearResourceTimings();

            const round = ms => Math.round(ms * 10) / 10;
            const received = Math.max(record.responseEnd, pixels.responseEnd);
            return {
                total: round(measure.duration),
                record: round(record.duration),
                pixels: round(pixels.duration),
                panel: round(measure.startTime + measure.duration - received)
            };
        }""",
        grid_id,
    )
