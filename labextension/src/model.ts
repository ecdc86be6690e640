/**
 * The state of the gallery panel and how it is fetched, as JupyterLab's file
 * browser model does it: views only render what `changed` announces.
 */
import type { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { type ISignal, Signal } from '@lumino/signaling';

import type {
  BlocksClient,
  GridChange,
  IGridSummary,
  IListQuery,
  IMe
} from './api';
import type { Clock, GalleryEvents } from './live';

/** Which grids the gallery lists. */
export type GalleryFilter = 'all' | 'mine';

/**
 * - `idle`: nothing asked yet;
 * - `loading`: the first page of a new query is on its way (no items to show);
 * - `ready`: `items` are the answer to the current query;
 * - `error`: the last request failed (`error` says why); `items` are empty.
 */
export type GalleryStatus = 'idle' | 'loading' | 'ready' | 'error';

export interface IGalleryModelOptions {
  client: BlocksClient;
  /** Grids per page (1..100). */
  pageSize?: number;
  /** Milliseconds between checks for new grids (errors back off up to a minute). */
  pollInterval?: number;
  /** The gallery's event stream; the model polls only while it is not connected. */
  events?: GalleryEvents | null;
  /** Ticks to show ages anew. */
  clock?: Clock | null;
}

/** The most grids one listing request may ask for. */
const MAX_LIMIT = 100;

/**
 * Grids of the current query, newest first, kept true by the gallery's event
 * stream: a grid posted that matches the query goes to the front, a renamed
 * one gets its new title, a deleted one goes; when the stream says changes
 * were missed, the grids shown are fetched again. While the stream is not
 * connected, polls stand in for it: while `active` and `autoRefresh` (and the
 * browser tab is visible), the model asks for the newest grid every
 * `pollInterval` ms and reloads the first page when it changed. A failed
 * poll shows the error at once.
 */
export class GalleryModel implements IDisposable {
  constructor(options: IGalleryModelOptions) {
    this.client = options.client;
    this._pageSize = options.pageSize ?? 24;
    this._poll = new Poll({
      auto: false,
      factory: () => this._check(),
      frequency: {
        interval: options.pollInterval ?? 5000,
        backoff: true,
        max: 60 * 1000
      },
      name: 'jupyter-blocks:gallery',
      standby: () =>
        this._active && this._autoRefresh && !this._events?.connected
          ? 'when-hidden'
          : true
    });
    this._events = options.events ?? null;
    this._events?.changes.connect(this._onChanges, this);
    this._events?.resync.connect(this._onResync, this);
    this._events?.connectedChanged.connect(this._wake, this);
    options.clock?.ticked.connect(this._onTick, this);
  }

  readonly client: BlocksClient;

  /** Emitted whenever anything below changes (and after each poll, for ages). */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get status(): GalleryStatus {
    return this._status;
  }

  /** Why the last request failed, while `status` is `error`. */
  get error(): unknown {
    return this._error;
  }

  get items(): readonly IGridSummary[] {
    return this._items;
  }

  /** Whether there are more pages. */
  get hasMore(): boolean {
    return this._next !== null;
  }

  /** Whether `loadMore()` is under way. */
  get loadingMore(): boolean {
    return this._loadingMore;
  }

  get filter(): GalleryFilter {
    return this._filter;
  }

  /** The text searched in titles and authors ('' for none). */
  get search(): string {
    return this._search;
  }

  /** Author names matching the search text, for suggestions. */
  get authorSuggestions(): readonly string[] {
    return this._authors;
  }

  /** Grids per page; changing it reloads the first page. */
  get pageSize(): number {
    return this._pageSize;
  }
  set pageSize(value: number) {
    if (value !== this._pageSize) {
      this._pageSize = value;
      this._reloadIfStarted();
    }
  }

  /** Whether new grids are polled for. */
  get autoRefresh(): boolean {
    return this._autoRefresh;
  }
  set autoRefresh(value: boolean) {
    this._autoRefresh = value;
    this._wake();
  }

  /** Whether a view shows the model (polls run only then); the first activation loads. */
  get active(): boolean {
    return this._active;
  }
  set active(value: boolean) {
    if (value === this._active) {
      return;
    }
    this._active = value;
    if (value) {
      this._events?.start();
    }
    if (value && this._status === 'idle') {
      void this.refresh();
    } else if (value) {
      this._wake();
    }
  }

  get isDisposed(): boolean {
    return this._poll.isDisposed;
  }

  /** List `filter` grids from the first page. */
  setFilter(filter: GalleryFilter): Promise<void> {
    this._filter = filter;
    return this.refresh();
  }

  /** Search `text` in titles and authors, from the first page; also suggest authors. */
  async setSearch(text: string): Promise<void> {
    this._search = text.trim();
    await Promise.all([this.refresh(), this._suggestAuthors()]);
  }

  /**
   * Load the first page of the current query (the cards shown stay until it
   * arrives), or as many grids as are shown with `keepShown` (up to 100).
   */
  async refresh(keepShown = false): Promise<void> {
    const generation = ++this._generation;
    if (this._status !== 'ready') {
      this._status = 'loading';
      this._changed.emit();
    }
    const limit = keepShown
      ? Math.min(MAX_LIMIT, Math.max(this._pageSize, this._items.length))
      : this._pageSize;
    this._refreshing++;
    try {
      const page = await this.client.list({
        ...(await this._query()),
        limit
      });
      if (generation === this._generation) {
        this._show(page.items, page.next);
        // Changes announced while the listing was on its way may be newer than it.
        this._apply(this._replay);
      }
    } catch (error) {
      if (generation === this._generation) {
        this._fail(error);
      }
    } finally {
      if (--this._refreshing === 0) {
        this._replay = [];
      }
    }
    if (this._poll.state.phase === 'constructed') {
      void this._poll.start();
    }
  }

  /** Append the next page. */
  async loadMore(): Promise<void> {
    if (this._next === null || this._loadingMore) {
      return;
    }
    const generation = this._generation;
    this._loadingMore = true;
    this._changed.emit();
    try {
      const page = await this.client.list({
        ...(await this._query()),
        limit: this._pageSize,
        cursor: this._next
      });
      if (generation === this._generation) {
        const known = new Set(this._items.map(item => item.id));
        this._show(
          this._items.concat(page.items.filter(item => !known.has(item.id))),
          page.next
        );
      }
    } catch (error) {
      if (generation === this._generation) {
        this._fail(error);
      }
    } finally {
      this._loadingMore = false;
      this._changed.emit();
    }
  }

  /** Forget a deleted grid at once (the next poll confirms it). */
  removeItem(id: string): void {
    this._items = this._items.filter(item => item.id !== id);
    this._changed.emit();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._poll.dispose();
    Signal.disconnectReceiver(this);
    Signal.clearData(this);
  }

  /** Whether `grid` belongs in the current query's listing. */
  matches(grid: IGridSummary): boolean {
    if (grid.secret) {
      return false;
    }
    if (this._filter === 'mine' && grid.author !== this._me?.author) {
      return false;
    }
    const text = this._search.toLowerCase();
    return (
      !text ||
      (grid.title ?? '').toLowerCase().includes(text) ||
      grid.author.toLowerCase().includes(text)
    );
  }

  /** Apply a batch of changes from the event stream; one `changed` for all. */
  private _onChanges(_: GalleryEvents, changes: readonly GridChange[]): void {
    if (this._refreshing) {
      this._replay.push(...changes);
    }
    if (this._status === 'ready') {
      this._apply(changes);
    }
  }

  private _apply(changes: readonly GridChange[]): void {
    let items = this._items;
    for (const change of changes) {
      if (change.kind === 'posted') {
        const grid = this._asSeenByMe(change.grid);
        if (
          this._autoRefresh &&
          this.matches(grid) &&
          !items.some(item => item.id === grid.id)
        ) {
          items = [grid, ...items];
        }
      } else if (change.kind === 'renamed') {
        items = items
          .map(item =>
            item.id === change.id ? { ...item, title: change.title } : item
          )
          .filter(item => item.id !== change.id || this.matches(item));
      } else if (change.kind === 'deleted') {
        items = items.filter(item => item.id !== change.id);
      }
    }
    if (items !== this._items) {
      this._items = items;
      this._changed.emit();
    }
  }

  /**
   * `owned` and `can_delete` of a grid for the user of this page (a summary
   * in an event may have been made for its author).
   */
  private _asSeenByMe(grid: IGridSummary): IGridSummary {
    const me = this._me;
    if (!me) {
      return grid;
    }
    const owned = grid.author === me.author;
    return { ...grid, owned, can_delete: owned || me.moderator };
  }

  private _onResync(): void {
    if (this._status !== 'idle') {
      void this.refresh(true);
    }
  }

  private _onTick(): void {
    if (this._status === 'ready' && this._items.length) {
      this._changed.emit();
    }
  }

  /**
   * One poll: reload the first page when the newest grid is not the one
   * shown, or when the last request failed. Rejects (so the poll backs off)
   * when the server does not answer, after showing the error.
   */
  private async _check(): Promise<void> {
    const generation = this._generation;
    let newest: string | null;
    try {
      const page = await this.client.list({
        ...(await this._query()),
        limit: 1
      });
      newest = page.items[0]?.id ?? null;
    } catch (error) {
      if (generation === this._generation) {
        this._fail(error);
      }
      throw error;
    }
    if (this._status !== 'ready' || newest !== (this._items[0]?.id ?? null)) {
      await this.refresh();
    } else {
      this._changed.emit();
    }
  }

  private async _suggestAuthors(): Promise<void> {
    const prefix = this._search;
    let authors: string[] = [];
    if (prefix) {
      try {
        authors = await this.client.authors(prefix);
      } catch {
        authors = []; // Suggestions are a nicety: the listing shows any error.
      }
    }
    if (prefix === this._search) {
      this._authors = authors;
      this._changed.emit();
    }
  }

  /** The filter part of the list query (and who I am, to match events with it). */
  private async _query(): Promise<IListQuery> {
    if (this._filter === 'mine' || this._events) {
      try {
        this._me = await this.client.me();
      } catch (error) {
        if (this._filter === 'mine') {
          throw error;
        }
      }
    }
    const author = this._filter === 'mine' ? (this._me?.author ?? null) : null;
    return { author, q: this._search || null };
  }

  /** Check at once (the standby condition may have changed), once polling has started. */
  private _wake(): void {
    if (this._poll.state.phase !== 'constructed') {
      void this._poll.refresh();
    }
  }

  private _reloadIfStarted(): void {
    if (this._status !== 'idle') {
      void this.refresh();
    }
  }

  private _show(items: IGridSummary[], next: string | null): void {
    this._items = items;
    this._next = next;
    this._status = 'ready';
    this._error = null;
    this._changed.emit();
  }

  private _fail(error: unknown): void {
    this._items = [];
    this._next = null;
    this._status = 'error';
    this._error = error;
    this._changed.emit();
  }

  private readonly _poll: Poll;
  private readonly _events: GalleryEvents | null;
  private _me: IMe | null = null;
  /** Requests of the first page under way, and the changes announced meanwhile. */
  private _refreshing = 0;
  private _replay: GridChange[] = [];
  private readonly _changed = new Signal<this, void>(this);
  private _status: GalleryStatus = 'idle';
  private _error: unknown = null;
  private _items: IGridSummary[] = [];
  private _next: string | null = null;
  private _loadingMore = false;
  private _filter: GalleryFilter = 'all';
  private _search = '';
  private _authors: string[] = [];
  private _pageSize: number;
  private _autoRefresh = true;
  private _active = false;
  private _generation = 0;
}
