/**
 * The content of a grid tab: the drawn grid, its metadata, its lineage and
 * its code cells; a view of a `GridModel`.
 */
import {
  CodeEditor,
  CodeEditorWrapper,
  type IEditorServices
} from '@jupyterlab/codeeditor';
import { Time } from '@jupyterlab/coreutils';
import type { TranslationBundle } from '@jupyterlab/translation';
import { Panel, Widget } from '@lumino/widgets';

import { drawGrid } from './draw';
import { errorBox } from './errors';
import type { GridModel, GridRecord } from './gridmodel';

export interface IGridViewOptions {
  model: GridModel;
  editorServices: IEditorServices;
  trans: TranslationBundle;
  /** Called when the user follows a "remixed from" or "remix" link. */
  openGrid: (id: string) => void;
  /**
   * Called when the user asks to keep a copy of a grid deleted meanwhile
   * (without it, the deletion notice offers none).
   */
  keepCopy?: () => void;
}

/** Shows one grid. */
export class GridView extends Panel {
  constructor(options: IGridViewOptions) {
    super();
    this.model = options.model;
    this._editorServices = options.editorServices;
    this._trans = options.trans;
    this._openGrid = options.openGrid;
    this._keepCopy = options.keepCopy ?? null;
    this.addClass('jp-BlocksGridView');
    this.model.changed.connect(this._render, this);
    this.model.ticked.connect(this._showAge, this);
    this._render();
  }

  readonly model: GridModel;

  /** The public or secret id of the grid shown. */
  get gridId(): string {
    return this.model.gridId;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._clear();
    this.model.dispose();
    super.dispose();
  }

  /**
   * Show the model's state; a renamed grid, or one deleted meanwhile, only
   * gets a new header.
   */
  private _render(): void {
    const { status, grid, drawing } = this.model;
    if ((status === 'ready' || status === 'removed') && grid && drawing) {
      if (this._drawn === grid.id && this._header) {
        const header = this._headerWidget(grid);
        this.insertWidget(this.widgets.indexOf(this._header), header);
        this._header.dispose();
        this._header = header;
        return;
      }
      this._clear();
      this._header = this._headerWidget(grid);
      this.addWidget(this._header);
      const canvas = new Widget();
      canvas.addClass('jp-BlocksGridView-drawing');
      canvas.node.appendChild(drawGrid(drawing));
      this.addWidget(canvas);
      this.addWidget(this._codeCells(grid.code_cells ?? []));
      this._drawn = grid.id;
      return;
    }
    this._clear();
    if (status === 'loading') {
      this.addWidget(
        messageWidget(
          this._trans.__('Loading grid…'),
          'jp-BlocksGridView-loading'
        )
      );
    } else if (status === 'error') {
      const box = errorBox(
        this.model.error,
        this._trans,
        'jp-BlocksGridView-error',
        [
          {
            label: this._trans.__('Retry'),
            onClick: () => void this.model.load()
          }
        ]
      );
      this.addWidget(new Widget({ node: box }));
    }
  }

  /** The created field says how long ago, anew. */
  private _showAge(): void {
    const grid = this.model.grid;
    const field = this._header?.node.querySelector<HTMLElement>(
      'dd[data-field="created"]'
    );
    if (grid && field) {
      field.textContent = created(grid.created);
    }
  }

  /** What a grid deleted while shown says, with a way to keep a copy. */
  private _removedNotice(): HTMLElement {
    const trans = this._trans;
    const notice = document.createElement('div');
    notice.className = 'jp-BlocksGridView-removed';
    notice.setAttribute('role', 'status');
    const text = document.createElement('p');
    text.textContent = trans.__(
      'This grid was deleted from the gallery. What this tab shows is all that is left of it.'
    );
    notice.append(text);
    const keepCopy = this._keepCopy;
    if (keepCopy) {
      const button = document.createElement('button');
      button.className = 'jp-mod-styled jp-mod-accept';
      button.textContent = trans.__('Keep a copy in a notebook');
      button.addEventListener('click', () => keepCopy());
      notice.append(button);
    }
    return notice;
  }

  private _headerWidget(grid: GridRecord): Widget {
    const trans = this._trans;
    const header = new Widget();
    header.addClass('jp-BlocksGridView-header');
    if (this.model.status === 'removed') {
      header.node.append(this._removedNotice());
    }
    const title = document.createElement('h1');
    title.className = 'jp-BlocksGridView-title';
    title.textContent = grid.title || trans.__('Untitled');
    title.classList.toggle('jp-mod-untitled', !grid.title);

    const fields: [string, string, string | Node][] = [
      ['author', trans.__('Author'), grid.author],
      ['created', trans.__('Created'), created(grid.created)],
      ['class', trans.__('Class'), grid.ipb_class],
      ['size', trans.__('Size'), `${grid.width} × ${grid.height}`],
      [
        'secret',
        trans.__('Secret'),
        grid.secret ? trans.__('yes') : trans.__('no')
      ],
      [
        'ipythonblocks',
        trans.__('ipythonblocks'),
        grid.ipb_version ?? trans.__('unknown')
      ]
    ];
    if (grid.parent) {
      fields.push([
        'parent',
        trans.__('Remixed from'),
        this._gridLink(grid.parent, grid.parent)
      ]);
    }
    if (grid.remixes.length) {
      const links = document.createElement('span');
      grid.remixes.forEach((remix, index) => {
        const label = trans.__(
          '%1 by %2',
          remix.title || trans.__('Untitled'),
          remix.author
        );
        links.append(index ? ', ' : '', this._gridLink(remix.id, label));
      });
      fields.push(['remixes', trans.__('Remixes'), links]);
    }
    const list = document.createElement('dl');
    list.className = 'jp-BlocksGridView-meta';
    for (const [field, name, value] of fields) {
      const term = document.createElement('dt');
      term.textContent = name;
      const detail = document.createElement('dd');
      detail.append(value);
      detail.dataset.field = field;
      list.append(term, detail);
    }
    header.node.append(title, list);
    return header;
  }

  /** A link that opens the grid `id` in its own tab. */
  private _gridLink(id: string, label: string): HTMLElement {
    const link = document.createElement('a');
    link.className = 'jp-BlocksGridView-gridLink';
    link.href = '#';
    link.dataset.gridId = id;
    link.textContent = label;
    link.addEventListener('click', event => {
      event.preventDefault();
      this._openGrid(id);
    });
    return link;
  }

  private _codeCells(cells: string[]): Widget {
    const section = new Panel();
    section.addClass('jp-BlocksGridView-code');
    const heading = new Widget({ node: document.createElement('h2') });
    heading.node.textContent = this._trans.__('Code cells');
    section.addWidget(heading);
    if (cells.length === 0) {
      section.addWidget(
        messageWidget(
          this._trans.__('No code cells were shared with this grid.'),
          'jp-BlocksGridView-noCode'
        )
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

  /** Remove the children and the editor models they used. */
  private _clear(): void {
    for (const child of [...this.widgets]) {
      child.dispose();
    }
    for (const model of this._models) {
      model.dispose();
    }
    this._models = [];
    this._header = null;
    this._drawn = null;
  }

  private readonly _editorServices: IEditorServices;
  private readonly _trans: TranslationBundle;
  private readonly _openGrid: (id: string) => void;
  private readonly _keepCopy: (() => void) | null;
  private _models: CodeEditor.IModel[] = [];
  private _header: Widget | null = null;
  private _drawn: string | null = null;
}

/** When a grid was created, and how long ago (never "in 2 seconds" for a clock ahead of ours). */
function created(time: string): string {
  const date = new Date(Math.min(new Date(time).getTime(), Date.now()));
  return `${Time.format(time)} (${Time.formatHuman(date)})`;
}

function messageWidget(text: string, className: string): Widget {
  const widget = new Widget();
  widget.addClass(className);
  widget.node.textContent = text;
  return widget;
}
