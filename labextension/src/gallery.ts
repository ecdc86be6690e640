/**
 * The "Blocks gallery" side panel: cards of shared grids, newest first.
 */
import { refreshIcon, Toolbar, ToolbarButton } from '@jupyterlab/ui-components';
import type { Message } from '@lumino/messaging';
import { Panel, Widget } from '@lumino/widgets';

import {
  BlocksAPIError,
  type BlocksClient,
  type IGridSummary,
  type IListQuery
} from './api';
import { blocksIcon } from './icon';
import { BackoffPoller } from './poller';
import { POST_SNIPPET } from './snippet';
import { relativeTime } from './time';

/** Which grids the gallery lists. */
export type GalleryFilter = 'all' | 'mine' | 'author';

export interface IGalleryOptions {
  client: BlocksClient;
  /** Called when the user opens a card. */
  openGrid: (summary: IGridSummary) => void;
  /** Grids per page (1..100). */
  pageSize?: number;
  /** Poll for new grids while the panel is visible. */
  autoRefresh?: boolean;
  /** Shortest and longest delay between polls, in milliseconds. */
  pollInterval?: { min: number; max: number };
}

/** Wait after the last keystroke in the author box before reloading. */
const AUTHOR_INPUT_DELAY = 400;

/**
 * The gallery panel. It loads when first shown and, with `autoRefresh`,
 * polls `GET blocks/api/grids?limit=1` while visible to reload the first page
 * when a new grid arrives.
 */
export class GalleryPanel extends Panel {
  constructor(options: IGalleryOptions) {
    super();
    this._client = options.client;
    this._openGrid = options.openGrid;
    this._pageSize = options.pageSize ?? 24;
    this._autoRefresh = options.autoRefresh ?? true;
    this._poller = new BackoffPoller({
      tick: () => this._checkForNewGrids(),
      min: options.pollInterval?.min ?? 5000,
      max: options.pollInterval?.max ?? 60000
    });

    this.id = 'jupyter-blocks-gallery';
    this.title.icon = blocksIcon;
    this.title.caption = 'Blocks gallery';
    this.addClass('jp-BlocksGallery');

    const toolbar = new Toolbar();
    toolbar.addClass('jp-BlocksGallery-toolbar');
    const heading = new Widget({ node: document.createElement('h2') });
    heading.node.textContent = 'Blocks gallery';
    heading.addClass('jp-BlocksGallery-heading');
    toolbar.addItem('heading', heading);
    toolbar.addItem('spacer', Toolbar.createSpacerItem());
    toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: 'Refresh the gallery',
        className: 'jp-BlocksGallery-refresh',
        onClick: () => {
          void this.refresh();
          this._updatePolling();
        }
      })
    );
    this.addWidget(toolbar);
    this.addWidget(this._createFilterBar());

    this._body.addClass('jp-BlocksGallery-body');
    this.addWidget(this._body);
  }

  /** Which grids are listed. */
  get filter(): GalleryFilter {
    return this._filter;
  }

  /** Grids per page; changing it reloads the gallery. */
  get pageSize(): number {
    return this._pageSize;
  }
  set pageSize(value: number) {
    if (value !== this._pageSize) {
      this._pageSize = value;
      if (this._loaded) {
        void this.refresh();
      }
    }
  }

  /** Whether new grids are polled for while the panel is visible. */
  get autoRefresh(): boolean {
    return this._autoRefresh;
  }
  set autoRefresh(value: boolean) {
    this._autoRefresh = value;
    this._updatePolling();
  }

  /** List `filter` grids (with `author` for the "author" filter) from the first page. */
  async setFilter(filter: GalleryFilter, author = this._authorInput.value): Promise<void> {
    this._filter = filter;
    this._filterSelect.value = filter;
    this._authorInput.value = author;
    this._authorInput.hidden = filter !== 'author';
    this._updatePolling();
    await this.refresh();
  }

  /** Reload the first page. */
  refresh(): Promise<void> {
    return this._reload(true);
  }

  /** Reload the first page; without `showLoading` the current cards stay until it arrives. */
  private async _reload(showLoading: boolean): Promise<void> {
    const generation = ++this._generation;
    this._loaded = true;
    if (showLoading) {
      this._renderMessage('Loading grids…', 'jp-BlocksGallery-loading');
    }
    try {
      const query = await this._query();
      const page = await this._client.list({ ...query, limit: this._pageSize });
      if (generation !== this._generation) {
        return;
      }
      this._items = page.items;
      this._next = page.next;
      this._newestId = page.items[0]?.id ?? null;
      this._renderItems();
    } catch (error) {
      if (generation === this._generation) {
        this._renderError(error);
      }
    }
  }

  /** Append the next page. */
  async loadMore(): Promise<void> {
    if (!this._next) {
      return;
    }
    const generation = this._generation;
    this._moreButton.disabled = true;
    this._moreButton.textContent = 'Loading…';
    try {
      const query = await this._query();
      const page = await this._client.list({
        ...query,
        limit: this._pageSize,
        cursor: this._next
      });
      if (generation !== this._generation) {
        return;
      }
      const known = new Set(this._items.map(item => item.id));
      this._items = this._items.concat(page.items.filter(item => !known.has(item.id)));
      this._next = page.next;
      this._renderItems();
    } catch (error) {
      if (generation === this._generation) {
        this._renderError(error);
      }
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._poller.dispose();
    window.clearTimeout(this._authorTimer);
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this._onVisibilityChanged();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._onVisibilityChanged();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._updatePolling();
  }

  protected onBeforeDetach(msg: Message): void {
    this._poller.stop();
    super.onBeforeDetach(msg);
  }

  private _onVisibilityChanged(): void {
    if (!this.isVisible) {
      return;
    }
    if (!this._loaded) {
      void this.refresh();
    }
    this._updatePolling();
  }

  /** Poll only while visible and enabled; (re)start from the shortest interval. */
  private _updatePolling(): void {
    if (this._autoRefresh && this.isVisible) {
      this._poller.start();
    } else {
      this._poller.stop();
    }
  }

  /**
   * One poll: reload the first page when the newest grid is not the one
   * shown (or the last load failed). Skipped while the browser tab is hidden.
   */
  private async _checkForNewGrids(): Promise<boolean> {
    if (document.hidden) {
      return false;
    }
    this._updateTimes();
    const query = await this._query();
    const page = await this._client.list({ ...query, limit: 1 });
    const newest = page.items[0]?.id ?? null;
    if (!this._failed && newest === this._newestId) {
      return false;
    }
    await this._reload(false);
    return !this._failed;
  }

  /** The author part of the list query for the current filter. */
  private async _query(): Promise<IListQuery> {
    switch (this._filter) {
      case 'mine':
        this._me ??= this._client.me().then(me => me.author);
        try {
          return { author: await this._me };
        } catch (error) {
          this._me = null;
          throw error;
        }
      case 'author':
        return { author: this._authorInput.value.trim() || null };
      default:
        return {};
    }
  }

  private _createFilterBar(): Widget {
    const bar = new Widget();
    bar.addClass('jp-BlocksGallery-filters');

    const select = this._filterSelect;
    select.className = 'jp-mod-styled jp-BlocksGallery-filter';
    select.setAttribute('aria-label', 'Show grids');
    for (const [value, label] of [
      ['all', 'All grids'],
      ['mine', 'My grids'],
      ['author', 'By author']
    ]) {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = label;
      select.appendChild(option);
    }
    select.addEventListener('change', () => {
      void this.setFilter(select.value as GalleryFilter);
      if (this._filter === 'author') {
        this._authorInput.focus();
      }
    });

    const input = this._authorInput;
    input.type = 'search';
    input.className = 'jp-mod-styled jp-BlocksGallery-author';
    input.placeholder = 'Author name';
    input.setAttribute('aria-label', 'Author name');
    input.hidden = true;
    input.addEventListener('input', () => {
      window.clearTimeout(this._authorTimer);
      this._authorTimer = window.setTimeout(() => void this.refresh(), AUTHOR_INPUT_DELAY);
    });
    input.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        window.clearTimeout(this._authorTimer);
        void this.refresh();
      }
    });

    bar.node.append(select, input);
    return bar;
  }

  private _renderItems(): void {
    this._failed = false;
    const node = this._body.node;
    node.replaceChildren();
    if (this._items.length === 0) {
      node.appendChild(this._emptyState());
      return;
    }
    const grid = document.createElement('ul');
    grid.className = 'jp-BlocksGallery-cards';
    for (const item of this._items) {
      grid.appendChild(this._card(item));
    }
    node.appendChild(grid);
    if (this._next) {
      this._moreButton.className = 'jp-mod-styled jp-BlocksGallery-more';
      this._moreButton.textContent = 'Load more';
      this._moreButton.disabled = false;
      this._moreButton.onclick = () => void this.loadMore();
      node.appendChild(this._moreButton);
    }
  }

  private _card(item: IGridSummary): HTMLElement {
    const title = item.title || 'Untitled';
    const card = document.createElement('li');
    card.className = 'jp-BlocksGallery-card';
    card.dataset.gridId = item.id;
    card.tabIndex = 0;
    card.setAttribute('role', 'button');
    card.title = `${title} by ${item.author} (${item.width} × ${item.height})`;

    const thumbnail = document.createElement('img');
    thumbnail.className = 'jp-BlocksGallery-thumbnail';
    thumbnail.setAttribute('loading', 'lazy');
    thumbnail.alt = title;
    thumbnail.src = this._client.thumbnailURL(item);

    const heading = document.createElement('div');
    heading.className = 'jp-BlocksGallery-cardTitle';
    heading.textContent = title;
    heading.classList.toggle('jp-mod-untitled', !item.title);

    const author = document.createElement('span');
    author.className = 'jp-BlocksGallery-cardAuthor';
    author.textContent = item.author;
    const time = document.createElement('time');
    time.className = 'jp-BlocksGallery-cardTime';
    time.dateTime = item.created;
    time.title = new Date(item.created).toLocaleString();
    time.textContent = relativeTime(new Date(item.created));
    const meta = document.createElement('div');
    meta.className = 'jp-BlocksGallery-cardMeta';
    meta.append(author, ' · ', time);

    card.append(thumbnail, heading, meta);
    card.addEventListener('click', () => this._openGrid(item));
    card.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        this._openGrid(item);
      }
    });
    return card;
  }

  private _updateTimes(): void {
    this._body.node.querySelectorAll('time.jp-BlocksGallery-cardTime').forEach(node => {
      const time = node as HTMLTimeElement;
      time.textContent = relativeTime(new Date(time.dateTime));
    });
  }

  private _emptyState(): HTMLElement {
    const box = document.createElement('div');
    box.className = 'jp-BlocksGallery-empty';
    const icon = blocksIcon.element({ className: 'jp-BlocksGallery-emptyIcon' });
    const text = document.createElement('p');
    const howTo = document.createElement('p');
    howTo.textContent = 'Share one from a notebook:';
    const code = document.createElement('pre');
    code.className = 'jp-BlocksGallery-snippet';
    code.textContent = POST_SNIPPET;
    switch (this._filter) {
      case 'mine':
        text.textContent = 'You have not shared any grids yet.';
        break;
      case 'author': {
        const author = this._authorInput.value.trim();
        text.textContent = author ? `No grids by ${author}.` : 'No grids have been shared yet.';
        break;
      }
      default:
        text.textContent = 'No grids have been shared yet.';
    }
    box.append(icon, text, howTo, code);
    return box;
  }

  private _renderMessage(message: string, className: string): void {
    const box = document.createElement('div');
    box.className = className;
    box.textContent = message;
    this._body.node.replaceChildren(box);
  }

  private _renderError(error: unknown): void {
    this._failed = true;
    const box = document.createElement('div');
    box.className = 'jp-BlocksGallery-error';
    const message = document.createElement('p');
    message.className = 'jp-BlocksGallery-errorMessage';
    message.textContent =
      error instanceof BlocksAPIError ? error.message : `Could not load the gallery: ${error}`;
    const retry = document.createElement('button');
    retry.className = 'jp-mod-styled jp-mod-accept jp-BlocksGallery-retry';
    retry.textContent = 'Retry';
    retry.addEventListener('click', () => {
      void this.refresh();
      this._updatePolling();
    });
    box.append(message, retry);
    this._body.node.replaceChildren(box);
  }

  private readonly _client: BlocksClient;
  private readonly _openGrid: (summary: IGridSummary) => void;
  private readonly _poller: BackoffPoller;
  private readonly _body = new Widget();
  private readonly _filterSelect = document.createElement('select');
  private readonly _authorInput = document.createElement('input');
  private readonly _moreButton = document.createElement('button');
  private _pageSize: number;
  private _autoRefresh: boolean;
  private _filter: GalleryFilter = 'all';
  private _items: IGridSummary[] = [];
  private _next: string | null = null;
  private _newestId: string | null = null;
  private _me: Promise<string> | null = null;
  private _loaded = false;
  private _failed = false;
  private _generation = 0;
  private _authorTimer = 0;
}
