/**
 * The content of a grid tab: the drawn grid, its metadata and its code cells.
 */
import { CodeEditor, CodeEditorWrapper, type IEditorServices } from '@jupyterlab/codeeditor';
import { ISignal, Signal } from '@lumino/signaling';
import { Panel, Widget } from '@lumino/widgets';

import { BlocksAPIError, type BlocksClient, type IGrid } from './api';
import { drawGrid } from './draw';
import { relativeTime } from './time';

export interface IGridViewOptions {
  gridId: string;
  client: BlocksClient;
  editorServices: IEditorServices;
}

/** Shows one grid; call `load()` to fetch it (again). */
export class GridView extends Panel {
  constructor(options: IGridViewOptions) {
    super();
    this.gridId = options.gridId;
    this._client = options.client;
    this._editorServices = options.editorServices;
    this.addClass('jp-BlocksGridView');
  }

  /** The public or secret id of the grid shown. */
  readonly gridId: string;

  /** The grid, once loaded. */
  get grid(): IGrid | null {
    return this._grid;
  }

  /** Emitted each time the grid has been loaded and drawn. */
  get loaded(): ISignal<this, IGrid> {
    return this._loaded;
  }

  /** Fetch the grid and draw it, or show why it could not be fetched. */
  async load(): Promise<void> {
    this._clear();
    this.addWidget(messageWidget('Loading grid…', 'jp-BlocksGridView-loading'));
    let grid: IGrid;
    try {
      grid = await this._client.get(this.gridId);
    } catch (error) {
      if (!this.isDisposed) {
        this._showError(error);
      }
      return;
    }
    if (this.isDisposed) {
      return;
    }
    this._grid = grid;
    this._clear();
    this.addWidget(this._header(grid));
    const drawing = new Widget();
    drawing.addClass('jp-BlocksGridView-drawing');
    drawing.node.appendChild(drawGrid(grid.grid_data));
    this.addWidget(drawing);
    this.addWidget(this._codeCells(grid.code_cells ?? []));
    this._loaded.emit(grid);
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._clear();
    Signal.clearData(this);
    super.dispose();
  }

  private _header(grid: IGrid): Widget {
    const header = new Widget();
    header.addClass('jp-BlocksGridView-header');
    const title = document.createElement('h1');
    title.className = 'jp-BlocksGridView-title';
    title.textContent = grid.title || 'Untitled';

    const created = new Date(grid.created);
    const fields: [string, string][] = [
      ['Author', grid.author],
      ['Created', `${created.toLocaleString()} (${relativeTime(created)})`],
      ['Class', grid.ipb_class],
      ['Size', `${grid.width} × ${grid.height}`],
      ['Secret', grid.secret ? 'yes' : 'no'],
      ['ipythonblocks', grid.ipb_version]
    ];
    const list = document.createElement('dl');
    list.className = 'jp-BlocksGridView-meta';
    for (const [name, value] of fields) {
      const term = document.createElement('dt');
      term.textContent = name;
      const detail = document.createElement('dd');
      detail.textContent = value;
      detail.dataset.field = name.toLowerCase();
      list.append(term, detail);
    }
    header.node.append(title, list);
    return header;
  }

  private _codeCells(cells: string[]): Widget {
    const section = new Panel();
    section.addClass('jp-BlocksGridView-code');
    const heading = new Widget({ node: document.createElement('h2') });
    heading.node.textContent = 'Code cells';
    section.addWidget(heading);
    if (cells.length === 0) {
      section.addWidget(
        messageWidget('No code cells were shared with this grid.', 'jp-BlocksGridView-noCode')
      );
      return section;
    }
    for (const source of cells) {
      const model = new CodeEditor.Model({ mimeType: 'text/x-ipython' });
      model.sharedModel.setSource(source);
      this._models.push(model);
      const editor = new CodeEditorWrapper({
        factory: this._editorServices.factoryService.newInlineEditor,
        model,
        editorOptions: { config: { readOnly: true, lineNumbers: false } }
      });
      editor.addClass('jp-BlocksGridView-cell');
      section.addWidget(editor);
    }
    return section;
  }

  private _showError(error: unknown): void {
    this._clear();
    const box = new Widget();
    box.addClass('jp-BlocksGridView-error');
    const message = document.createElement('p');
    message.textContent =
      error instanceof BlocksAPIError ? error.message : `Could not load the grid: ${error}`;
    const retry = document.createElement('button');
    retry.className = 'jp-mod-styled jp-mod-accept';
    retry.textContent = 'Retry';
    retry.addEventListener('click', () => void this.load());
    box.node.append(message, retry);
    this.addWidget(box);
  }

  /** Remove the children and the editor models they used. */
  private _clear(): void {
    for (const child of [...this.widgets]) {
      child.dispose();
    }
    for (const model of this._models) {
      model.dispose();
    }
    this._models = [];
  }

  private readonly _client: BlocksClient;
  private readonly _editorServices: IEditorServices;
  private readonly _loaded = new Signal<this, IGrid>(this);
  private _grid: IGrid | null = null;
  private _models: CodeEditor.IModel[] = [];
}

function messageWidget(text: string, className: string): Widget {
  const widget = new Widget();
  widget.addClass(className);
  widget.node.textContent = text;
  return widget;
}
