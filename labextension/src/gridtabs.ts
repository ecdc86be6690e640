/**
 * Main-area tabs showing one grid each, with their toolbar actions.
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import {
  Clipboard,
  InputDialog,
  MainAreaWidget,
  Notification,
  showErrorMessage,
  WidgetTracker
} from '@jupyterlab/apputils';
import type { IEditorServices } from '@jupyterlab/codeeditor';
import type { INotebookTracker } from '@jupyterlab/notebook';
import type { TranslationBundle } from '@jupyterlab/translation';
import {
  copyIcon,
  deleteIcon,
  downloadIcon,
  editIcon,
  launchIcon,
  linkIcon,
  notebookIcon,
  ToolbarButton
} from '@jupyterlab/ui-components';

import type { BlocksClient } from './api';
import { confirmDelete } from './deletion';
import { errorMessage } from './errors';
import { GridModel, type GridRecord } from './gridmodel';
import { GridView } from './gridview';
import { blocksIcon } from './icon';
import { insertCodeCell } from './insert';
import type { Clock, GalleryEvents } from './live';
import { copySnippet, gridSnippet } from './snippet';

export type GridTab = MainAreaWidget<GridView>;

export interface IGridTabsOptions {
  shell: JupyterFrontEnd.IShell;
  client: BlocksClient;
  editorServices: IEditorServices;
  trans: TranslationBundle;
  /** Where "Insert into notebook" goes; without it the action is not offered. */
  notebooks: INotebookTracker | null;
  /** Called after a grid was deleted (to update the gallery). */
  onDeleted: (id: string) => void;
  /** The gallery's event stream: renames and deletions show in open tabs. */
  events?: GalleryEvents | null;
  /** Ticks to show ages anew. */
  clock?: Clock | null;
}

/** Toolbar items that need the grid on the server, taken away once it is deleted. */
const SERVER_ACTIONS = [
  'copy-url',
  'copy-snippet',
  'open-page',
  'download-png',
  'rename',
  'delete'
];

/** Opens grids in main-area tabs, one tab per grid id. */
export class GridTabs {
  constructor(private readonly _options: IGridTabsOptions) {}

  /** The open grid tabs. */
  readonly tracker = new WidgetTracker<GridTab>({
    namespace: 'jupyter-blocks-grid'
  });

  /** Open the grid `id`, or activate its tab when it is already open. */
  open(id: string): GridTab {
    const existing = this.tracker.find(tab => tab.content.gridId === id);
    if (existing) {
      this._options.shell.activateById(existing.id);
      return existing;
    }
    const model = new GridModel(id, this._options.client, {
      events: this._options.events,
      clock: this._options.clock
    });
    const notebooks = this._options.notebooks;
    const content = new GridView({
      model,
      editorServices: this._options.editorServices,
      trans: this._options.trans,
      openGrid: other => void this.open(other),
      keepCopy: notebooks ? () => this._keepCopy(notebooks, model) : undefined
    });
    const tab = new MainAreaWidget({ content });
    tab.id = `jupyter-blocks-grid-${id}`;
    tab.title.label = id;
    tab.title.icon = blocksIcon;
    tab.title.closable = true;
    tab.addClass('jp-BlocksGridTab');
    model.changed.connect(() => this._onChanged(tab));
    void this.tracker.add(tab);
    this._options.shell.add(tab, 'main');
    this._options.shell.activateById(tab.id);
    void model.load();
    return tab;
  }

  /** Close the tab of the grid `id`, if one is open. */
  close(id: string): void {
    this.tracker.find(tab => tab.content.gridId === id)?.dispose();
  }

  private _onChanged(tab: GridTab): void {
    const trans = this._options.trans;
    const { status, grid, gridId } = tab.content.model;
    if (status === 'gone') {
      // Deleted here or elsewhere, or a restored tab of a grid that is no more.
      Notification.warning(
        trans.__('The grid %1 no longer exists; its tab was closed.', gridId),
        { autoClose: 5000 }
      );
      tab.dispose();
      return;
    }
    if (status === 'deleted') {
      tab.dispose();
      return;
    }
    if (status === 'removed' && grid) {
      const title = grid.title || trans.__('Untitled');
      tab.title.label = trans.__('%1 (deleted)', title);
      tab.title.caption = trans.__(
        '%1 by %2, deleted from the gallery',
        title,
        grid.author
      );
      tab.addClass('jp-mod-removed');
      removeItems(tab, SERVER_ACTIONS);
      return;
    }
    if (status !== 'ready' || !grid) {
      return;
    }
    const title = grid.title || trans.__('Untitled');
    tab.title.label = title;
    tab.title.caption = trans.__('%1 by %2', title, grid.author);
    this._addButtons(tab, grid);
  }

  /** The toolbar actions the grid allows (added once). */
  private _addButtons(tab: GridTab, grid: GridRecord): void {
    const trans = this._options.trans;
    const model = tab.content.model;
    // Each one goes to the toolbar, or is disposed, below.
    const buttons: [string, ToolbarButton][] = [];
    buttons.push(
      [
        'copy-url',
        new ToolbarButton({
          icon: linkIcon,
          label: trans.__('Copy URL'),
          tooltip: trans.__('Copy the URL of the grid page'),
          onClick: () =>
            copy(model.grid?.url ?? grid.url, trans.__('URL copied'))
        })
      ],
      [
        'copy-snippet',
        new ToolbarButton({
          icon: copyIcon,
          label: trans.__('Copy snippet'),
          tooltip: trans.__('Copy Python code that loads this grid'),
          onClick: () => copy(gridSnippet(grid), trans.__('Snippet copied'))
        })
      ]
    );
    const notebooks = this._options.notebooks;
    if (notebooks) {
      buttons.push([
        'insert-cell',
        new ToolbarButton({
          icon: notebookIcon,
          label: trans.__('Insert into notebook'),
          tooltip: trans.__(
            'Insert a code cell that loads this grid into the active notebook'
          ),
          onClick: () =>
            model.status === 'removed'
              ? this._keepCopy(notebooks, model)
              : this._insert(notebooks, grid)
        })
      ]);
    }
    buttons.push(
      [
        'open-page',
        new ToolbarButton({
          icon: launchIcon,
          label: trans.__('Open page'),
          tooltip: trans.__('Open the grid page in a new browser tab'),
          onClick: () => void window.open(grid.url, '_blank', 'noopener')
        })
      ],
      [
        'download-png',
        new ToolbarButton({
          icon: downloadIcon,
          label: trans.__('Download PNG'),
          tooltip: trans.__('Download the grid as a PNG image'),
          onClick: () => void this._download(model)
        })
      ]
    );
    if (grid.owned) {
      buttons.push([
        'rename',
        new ToolbarButton({
          icon: editIcon,
          label: trans.__('Rename'),
          tooltip: trans.__('Give this grid a new title'),
          onClick: () => void this._rename(model)
        })
      ]);
    }
    if (grid.can_delete) {
      buttons.push([
        'delete',
        new ToolbarButton({
          icon: deleteIcon,
          label: trans.__('Delete'),
          tooltip: trans.__('Delete this grid'),
          className: 'jp-BlocksGridTab-delete',
          onClick: () => void this._delete(model)
        })
      ]);
    }
    const toolbar = tab.toolbar;
    for (const [name, button] of buttons) {
      if (!toolbar.addItem(name, button)) {
        button.dispose(); // Already there: the grid was loaded again or renamed.
      }
    }
  }

  private _insert(notebooks: INotebookTracker, grid: GridRecord): void {
    this._insertCells(notebooks, [gridSnippet(grid)]);
  }

  /**
   * Keep a copy of a grid deleted meanwhile: code that makes it again from
   * the blocks the tab still has (small grids), then its code cells.
   */
  private _keepCopy(notebooks: INotebookTracker, model: GridModel): void {
    const { grid, drawing } = model;
    if (!grid || !drawing) {
      return;
    }
    const rebuild = copySnippet(grid, drawing);
    const cells = [...(rebuild ? [rebuild] : []), ...(grid.code_cells ?? [])];
    if (cells.length === 0) {
      Notification.warning(
        this._options.trans.__(
          'This grid is too big to copy as code, and it has no code cells.'
        ),
        { autoClose: 5000 }
      );
      return;
    }
    this._insertCells(notebooks, cells);
  }

  /** Insert code cells below the active cell of the current notebook. */
  private _insertCells(notebooks: INotebookTracker, sources: string[]): void {
    const panel = notebooks.currentWidget;
    if (!panel) {
      Notification.warning(
        this._options.trans.__(
          'Open a notebook first, then insert the grid into it.'
        ),
        { autoClose: 5000 }
      );
      return;
    }
    for (const source of sources) {
      insertCodeCell(panel.content, source);
    }
    this._options.shell.activateById(panel.id);
  }

  private async _rename(model: GridModel): Promise<void> {
    const trans = this._options.trans;
    const result = await InputDialog.getText({
      title: trans.__('Rename grid'),
      label: trans.__('Title (empty for untitled)'),
      text: model.grid?.title ?? '',
      okLabel: trans.__('Rename')
    });
    if (!result.button.accept || result.value === null) {
      return;
    }
    try {
      await model.rename(result.value.trim() || null);
    } catch (error) {
      await showErrorMessage(
        trans.__('Could not rename the grid'),
        errorMessage(error, trans)
      );
    }
  }

  private async _download(model: GridModel): Promise<void> {
    const trans = this._options.trans;
    let image: Blob;
    try {
      image = await model.image();
    } catch (error) {
      await showErrorMessage(
        trans.__('Could not download the image'),
        errorMessage(error, trans)
      );
      return;
    }
    const url = URL.createObjectURL(image);
    const link = document.createElement('a');
    link.href = url;
    link.download = `${fileName(model.grid?.title || model.gridId)}.png`;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  private async _delete(model: GridModel): Promise<void> {
    const trans = this._options.trans;
    if (
      !(await confirmDelete(trans, model.grid?.title ?? null, model.gridId))
    ) {
      return;
    }
    const id = model.gridId;
    try {
      await model.remove();
    } catch (error) {
      await showErrorMessage(
        trans.__('Could not delete the grid'),
        errorMessage(error, trans)
      );
      return;
    }
    this._options.onDeleted(id);
  }
}

/** Take the items named `names` off the tab's toolbar. */
function removeItems(tab: GridTab, names: string[]): void {
  const toolbar = tab.toolbar;
  const widgets = [...toolbar.children()];
  [...toolbar.names()].forEach((name, index) => {
    if (names.includes(name)) {
      widgets[index]?.dispose();
    }
  });
}

function copy(text: string, message: string): void {
  Clipboard.copyToSystem(text);
  Notification.success(message, { autoClose: 2000 });
}

/** A title made safe as a file name. */
function fileName(title: string): string {
  return (
    title.replace(/[\\/:*?"<>|\s]+/g, '-').replace(/^-+|-+$/g, '') || 'grid'
  );
}
