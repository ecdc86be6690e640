"""The Blocks gallery panel in a real JupyterLab, driven in chromium.

Grids are seeded by two users (alice through the lab server, bob through his own server on the
same database); the browser is alice's.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Error, Page, expect

from tests.utils import ARTIFACTS, Server, grid_payload

from .servers import GALLERY_ID, Seeded
from .ui import (
    CARD,
    LOAD_TIMEOUT,
    NOTEBOOK7_SHORTCUTS_ERROR,
    SIDEBAR_TAB,
    colour_text,
    grid_tab,
    open_gallery,
    open_lab,
    pixel_at,
)

pytestmark = pytest.mark.browser


def test_gallery_lists_grids_newest_first_and_loads_more(
    page: Page, page_errors: list[Error], lab: Server, seeded: Seeded
) -> None:
    grids = lab.all_grids()
    assert len(grids) > 24
    panel = open_gallery(page, lab)
    cards = panel.locator(CARD)

    expect(cards).to_have_count(24)
    expect(cards.locator(".jp-BlocksGallery-cardTitle")).to_have_text(
        [grid["title"] or "Untitled" for grid in grids[:24]]
    )
    expect(cards.locator(".jp-BlocksGallery-cardAuthor")).to_have_text(
        [grid["author"] for grid in grids[:24]]
    )
    assert {grid["author"] for grid in grids[:24]} == {"alice", "bob"}
    assert any(grid["title"] is None for grid in grids[:24])  # shown as "Untitled"
    expect(cards.first.locator("time")).to_have_text(re.compile(r"^(now|\d+ sec\. ago)$"))
    thumbnail = cards.first.locator("img")
    expect(thumbnail).to_have_attribute("loading", "lazy")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle()
    )

    panel.get_by_role("button", name="Load more").click()
    expect(cards).to_have_count(min(len(grids), 48))
    expect(cards.locator(".jp-BlocksGallery-cardTitle")).to_have_text(
        [grid["title"] or "Untitled" for grid in grids[:48]]
    )
    expect(panel.get_by_role("button", name="Load more")).to_have_count(0)


def test_filter_mine_shows_only_alices_grids(
    page: Page, page_errors: list[Error], lab: Server, seeded: Seeded
) -> None:
    panel = open_gallery(page, lab)
    cards = panel.locator(CARD)
    mine = lab.all_grids(author="alice")

    panel.locator(".jp-BlocksGallery-filter").select_option("mine")
    expect(cards).to_have_count(len(mine))
    expect(cards.locator(".jp-BlocksGallery-cardAuthor")).to_have_text(["alice"] * len(mine))


def test_open_grid_shows_drawing_metadata_and_code(
    page: Page, page_errors: list[Error], lab: Server, seeded: Seeded
) -> None:
    grid = seeded.bob[-2]  # a full record, with its grid_data and code cells
    blocks = grid["grid_data"]["blocks"]
    panel = open_gallery(page, lab)
    panel.locator(f'{CARD}[data-grid-id="{grid["id"]}"]').click()

    tab = grid_tab(page, grid["id"])
    expect(tab.locator(".jp-BlocksGridView-title")).to_have_text(grid["title"])
    dock_tab = page.locator(
        f'.lm-DockPanel-tabBar .lm-TabBar-tab[data-id="jupyter-blocks-grid-{grid["id"]}"]'
    )
    expect(dock_tab).to_contain_text(grid["title"])
    # One canvas, laid out as ipythonblocks lays out its table: 20 px blocks, 1 px lines.
    canvas = tab.locator("canvas.jp-BlocksGrid")
    expect(canvas).to_have_count(1)
    expect(canvas).to_have_css("width", f"{grid['width'] * 21 + 1}px")
    expect(canvas).to_have_css("height", f"{grid['height'] * 21 + 1}px")
    assert pixel_at(canvas, 0, 0) == blocks[0][0][:3]
    assert pixel_at(canvas, grid["height"] - 1, grid["width"] - 1) == blocks[-1][-1][:3]
    canvas.hover(position={"x": 1 + 21 * 2 + 10, "y": 1 + 21 * 1 + 10})
    expect(canvas).to_have_attribute(
        "title", f"Index: [1, 2]\nColor: ({colour_text(blocks[1][2])})"
    )
    expect(tab.locator('dd[data-field="author"]')).to_have_text("bob")
    expect(tab.locator('dd[data-field="size"]')).to_have_text(f"{grid['width']} × {grid['height']}")
    expect(tab.locator('dd[data-field="secret"]')).to_have_text("no")
    expect(tab.locator('dd[data-field="class"]')).to_have_text("BlockGrid")

    # Code cells in read-only CodeMirror editors, highlighted as Python.
    editors = tab.locator(".jp-BlocksGridView-cell .cm-editor")
    expect(editors).to_have_count(len(grid["code_cells"]))
    expect(editors.first.locator(".cm-content")).to_have_attribute("aria-readonly", "true")
    expect(editors.first).to_contain_text("from ipythonblocks import BlockGrid")
    expect(editors.first.locator(".cm-line span").first).to_be_visible()

    # bob's grid: every action but delete.
    toolbar = tab.locator(".jp-Toolbar").first
    for name in ("copy-url", "copy-snippet", "insert-cell", "open-page"):
        expect(toolbar.locator(f'[data-jp-item-name="{name}"]')).to_be_visible()
    expect(toolbar.locator('[data-jp-item-name="delete"]')).to_have_count(0)
    assert lab.api("DELETE", f"api/grids/{grid['id']}").status_code == 403

    # Opening it again activates the same tab.
    page.evaluate("() => window.jupyterapp.commands.execute('launcher:create')")
    expect(dock_tab).not_to_have_class(re.compile("lm-mod-current"))
    panel.locator(f'{CARD}[data-grid-id="{grid["id"]}"]').click()
    expect(dock_tab).to_have_count(1)
    expect(dock_tab).to_have_class(re.compile("lm-mod-current"))
    page.screenshot(path=ARTIFACTS / "grid-tab.png")


def test_insert_grid_into_notebook_and_run_it(
    page: Page, page_errors: list[Error], lab: Server, seeded: Seeded
) -> None:
    grid = lab.all_grids(author="alice")[1]  # on the first page
    open_lab(page, lab)
    page.evaluate(
        "() => window.jupyterapp.commands.execute('notebook:create-new', {kernelName: 'python3'})"
    )
    notebook = page.locator(".jp-NotebookPanel").first
    expect(notebook).to_be_visible(timeout=LOAD_TIMEOUT)

    page.locator(SIDEBAR_TAB).click()
    page.locator(f'{CARD}[data-grid-id="{grid["id"]}"]').click()
    tab = grid_tab(page, grid["id"])
    tab.locator('[data-jp-item-name="insert-cell"]').click()

    expect(notebook).to_be_visible()
    cell = notebook.locator(".jp-CodeCell").last
    expect(cell.locator(".cm-content")).to_contain_text(f'BlockGrid.from_web("{grid["id"]}")')
    expect(cell.locator(".cm-content")).not_to_contain_text("%load_ext")

    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-cell')")
    output = cell.locator(".jp-OutputArea-output")
    expect(output.locator("table td")).to_have_count(
        grid["width"] * grid["height"], timeout=LOAD_TIMEOUT
    )
    page.screenshot(path=ARTIFACTS / "notebook.png")


def test_new_grids_appear_without_a_refresh(
    page: Page, page_errors: list[Error], lab: Server, seeded: Seeded
) -> None:
    panel = open_gallery(page, lab)
    expect(panel.locator(CARD).first).to_be_visible()
    # Through the page's own server: on SQLite a server announces only its own changes (bob's
    # server would show at the next resync); tests/browser/test_panel_live.py times it.
    fresh = lab.post_grid(grid_payload(99, title="Fresh from a script"))
    expect(panel.locator(CARD).first).to_have_attribute("data-grid-id", fresh["id"], timeout=20_000)
    expect(panel.locator(CARD).first.locator(".jp-BlocksGallery-cardTitle")).to_have_text(
        "Fresh from a script"
    )


def test_delete_own_grid(page: Page, page_errors: list[Error], lab: Server, seeded: Seeded) -> None:
    grid = lab.all_grids(author="alice")[0]
    panel = open_gallery(page, lab)
    card = panel.locator(f'{CARD}[data-grid-id="{grid["id"]}"]')
    card.click()
    tab = grid_tab(page, grid["id"])
    tab.locator('[data-jp-item-name="delete"]').click()

    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Delete grid")
    expect(dialog).to_contain_text(grid["title"])
    dialog.get_by_role("button", name="Delete").click()

    expect(tab).to_have_count(0)
    expect(card).to_have_count(0)
    assert lab.api("GET", f"api/grids/{grid['id']}").status_code == 404


def test_error_state_when_the_server_extension_is_disabled(
    page: Page, page_errors: list[Error], lab_without_blocks: Server
) -> None:
    panel = open_gallery(page, lab_without_blocks)
    expect(panel.locator(".jp-BlocksGallery-errorMessage")).to_have_text(
        "The jupyter-blocks server extension is not installed or not enabled"
    )
    expect(panel.get_by_role("button", name="Retry")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "extension-disabled.png")


def test_screenshot_of_the_gallery(
    page: Page, page_errors: list[Error], lab: Server, seeded: Seeded
) -> None:
    """Pictures for docs/panel.png and docs/panel-dark.png: the gallery beside an open grid."""
    panel = open_gallery(page, lab)
    # Widen the sidebar a little: two columns of larger cards.
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
    box = handle.bounding_box()
    if box:
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + 60, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
    cards = panel.locator(CARD)
    expect(cards.first).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-BlocksGallery-card img')]"
        ".slice(0, 6).every(img => img.complete && img.naturalWidth > 0)"
    )
    page.evaluate("() => window.jupyterapp.commands.execute('application:close-all')")
    rings = next(g for g in lab.all_grids()[:24] if (g["title"] or "").endswith("rings"))
    panel.locator(f'{CARD}[data-grid-id="{rings["id"]}"]').click()
    expect(page.locator("canvas.jp-BlocksGrid")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "gallery.png")

    # The same in JupyterLab Dark (docs/panel-dark.png); the theme setting is put back after.
    try:
        page.evaluate(
            "() => window.jupyterapp.commands.execute("
            "'apputils:change-theme', {theme: 'JupyterLab Dark'})"
        )
        expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")
        page.wait_for_timeout(500)  # the theme's stylesheet applied
        page.screenshot(path=ARTIFACTS / "gallery-dark.png")
    finally:
        settings_url = f"{lab.url}lab/api/settings/@jupyterlab/apputils-extension:themes"
        lab.session.put(settings_url, json={"raw": "{}"}, timeout=30)


def test_settings_apply_live(
    page: Page, page_errors: list[Error], lab: Server, seeded: Seeded
) -> None:
    panel = open_gallery(page, lab)
    cards = panel.locator(CARD)
    expect(cards).to_have_count(24)
    try:
        page.evaluate(
            "() => window.jupyterapp.commands.execute('settingeditor:open', {query: 'Blocks'})"
        )
        page_size = page.locator('input[id="jp-SettingsEditor-jupyter-blocks:plugin_pageSize"]')
        expect(page_size).to_have_value("24")
        page_size.fill("5")
        expect(cards).to_have_count(5)  # no reload of JupyterLab
        panel.get_by_role("button", name="Load more").click()
        expect(cards).to_have_count(10)
    finally:
        settings_url = f"{lab.url}lab/api/settings/jupyter-blocks:plugin"
        lab.session.put(settings_url, json={"raw": "{}"}, timeout=30)


def test_notebook7_shows_the_panel_in_its_left_area(
    page: Page, page_errors: list[Error], lab: Server, seeded: Seeded
) -> None:
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "cells": [],
    }
    response = lab.session.put(
        f"{lab.url}api/contents/notebook7.ipynb",
        json={"type": "notebook", "format": "json", "content": notebook},
        timeout=30,
    )
    assert response.status_code in (200, 201), response.text
    grids = lab.all_grids()
    page.goto(f"{lab.url}notebooks/notebook7.ipynb?token={lab.token}", timeout=LOAD_TIMEOUT)
    expect(page.locator(".jp-NotebookPanel")).to_be_visible(timeout=LOAD_TIMEOUT)

    page.evaluate("() => window.jupyterapp.commands.execute('jupyter-blocks:open-gallery')")
    panel = page.locator(f"#{GALLERY_ID}")
    expect(panel).to_be_visible()
    cards = panel.locator(CARD)
    expect(cards).to_have_count(min(len(grids), 24))
    page.screenshot(path=ARTIFACTS / "notebook7.png")

    # No grid tabs in Notebook 7: a card opens the grid's page in a new browser tab.
    with page.context.expect_page() as grid_page:
        cards.first.click()
    expect(grid_page.value).to_have_url(grids[0]["url"])

    # View > Blocks gallery (web page) opens the server's HTML gallery.
    page.locator(".lm-MenuBar-itemLabel", has_text="View").click()
    with page.context.expect_page() as gallery_page:
        page.locator(".lm-Menu-itemLabel", has_text="Blocks gallery (web page)").click()
    expect(gallery_page.value).to_have_url(f"{lab.url}blocks/")

    # Notebook 7.6.5's keyboard-shortcuts plugin throws this on notebook pages, with or without
    # jupyter-blocks installed: not ours.
    page_errors[:] = [e for e in page_errors if e.message != NOTEBOOK7_SHORTCUTS_ERROR]
