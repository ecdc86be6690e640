/**
 * Main-area tabs showing one grid each, with their toolbar actions.
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import {
  Clipboard,
  Dialog,
  MainAreaWidget,
  Notification,
  showDialog,
  showErrorMessage,
  WidgetTracker
} from '@jupyterlab/apputils';
import type { IEditorServices } from '@jupyterlab/codeeditor';
import type { INotebookTracker } from '@jupyterlab/notebook';
import {
  copyIcon,
  deleteIcon,
  launchIcon,
  linkIcon,
  notebookIcon,
  ToolbarButton
} from '@jupyterlab/ui-components';

import type { BlocksClient, IGrid } from './api';
import { GridView } from './gridview';
import { blocksIcon } from './icon';
import { insertCodeCell } from './insert';
import { gridSnippet } from './snippet';

export type GridTab = MainAreaWidget<GridView>;

export interface IGridTabsOptions {
  shell: JupyterFrontEnd.IShell;
  client: BlocksClient;
  editorServices: IEditorServices;
  /** Where "Insert into notebook" goes; without it the action is not offered. */
  notebooks: INotebookTracker | null;
  /** Called after a grid was deleted (to refresh the gallery). */
  onDeleted: (id: string) => void;
}

/** Opens grids in main-area tabs, one tab per grid id. */
export class GridTabs {
  constructor(private readonly _options: IGridTabsOptions) {}

  /** The open grid tabs. */
  readonly tracker = new WidgetTracker<GridTab>({ namespace: 'jupyter-blocks-grid' });

  /** Open the grid `id`, or activate its tab when it is already open. */
  open(id: string): GridTab {
    const existing = this.tracker.find(tab => tab.content.gridId === id);
    if (existing) {
      this._options.shell.activateById(existing.id);
      return existing;
    }
    const content = new GridView({
      gridId: id,
      client: this._options.client,
      editorServices: this._options.editorServices
    });
    const tab = new MainAreaWidget({ content });
    tab.id = `jupyter-blocks-grid-${id}`;
    tab.title.label = id;
    tab.title.icon = blocksIcon;
    tab.title.closable = true;
    tab.addClass('jp-BlocksGridTab');
    content.loaded.connect((_, grid) => this._onLoaded(tab, grid));
    void this.tracker.add(tab);
    this._options.shell.add(tab, 'main');
    this._options.shell.activateById(tab.id);
    void content.load();
    return tab;
  }

  private _onLoaded(tab: GridTab, grid: IGrid): void {
    tab.title.label = grid.title || 'Untitled';
    tab.title.caption = `${grid.title || 'Untitled'} by ${grid.author}`;
    const toolbar = tab.toolbar;
    const buttons: [string, ToolbarButton][] = [
      [
        'copy-url',
        new ToolbarButton({
          icon: linkIcon,
          label: 'Copy URL',
          tooltip: 'Copy the URL of the grid page',
          onClick: () => copy(grid.url, 'URL copied')
        })
      ],
      [
        'copy-snippet',
        new ToolbarButton({
          icon: copyIcon,
          label: 'Copy snippet',
          tooltip: 'Copy Python code that loads this grid',
          onClick: () => copy(gridSnippet(grid), 'Snippet copied')
        })
      ]
    ];
    const notebooks = this._options.notebooks;
    if (notebooks) {
      buttons.push([
        'insert-cell',
        new ToolbarButton({
          icon: notebookIcon,
          label: 'Insert into notebook',
          tooltip: 'Insert a code cell that loads this grid into the active notebook',
          onClick: () => this._insert(notebooks, grid)
        })
      ]);
    }
    buttons.push([
      'open-page',
      new ToolbarButton({
        icon: launchIcon,
        label: 'Open page',
        tooltip: 'Open the grid page in a new browser tab',
        onClick: () => void window.open(grid.url, '_blank', 'noopener')
      })
    ]);
    if (grid.owned) {
      buttons.push([
        'delete',
        new ToolbarButton({
          icon: deleteIcon,
          label: 'Delete',
          tooltip: 'Delete this grid',
          className: 'jp-BlocksGridTab-delete',
          onClick: () => void this._delete(tab, grid)
        })
      ]);
    }
    // A grid loaded again (after "Retry") keeps the buttons it already has.
    for (const [name, button] of buttons) {
      if (!toolbar.addItem(name, button)) {
        button.dispose();
      }
    }
  }

  private _insert(notebooks: INotebookTracker, grid: IGrid): void {
    const panel = notebooks.currentWidget;
    if (!panel) {
      Notification.warning('Open a notebook first, then insert the grid into it.', {
        autoClose: 5000
      });
      return;
    }
    insertCodeCell(panel.content, gridSnippet(grid));
    this._options.shell.activateById(panel.id);
  }

  private async _delete(tab: GridTab, grid: IGrid): Promise<void> {
    const title = grid.title || 'Untitled';
    const result = await showDialog({
      title: 'Delete grid',
      body: `Delete "${title}" (${grid.id})? This cannot be undone.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!result.button.accept) {
      return;
    }
    try {
      await this._options.client.remove(grid.id);
    } catch (error) {
      await showErrorMessage('Could not delete the grid', error as Error);
      return;
    }
    tab.dispose();
    this._options.onDeleted(grid.id);
  }
}

function copy(text: string, message: string): void {
  Clipboard.copyToSystem(text);
  Notification.success(message, { autoClose: 2000 });
}
