/**
 * One grid shown in a tab: its record and its blocks, fetched and changed
 * through the API.
 */
import type { IDisposable } from '@lumino/disposable';
import { type ISignal, Signal } from '@lumino/signaling';

import {
  BlocksAPIError,
  type BlocksClient,
  type GridChange,
  type IGrid,
  type IGridShape
} from './api';
import type { IPackedGrid } from './draw';
import type { Clock, GalleryEvents } from './live';

/** A record without its blocks, as the tab fetches it. */
export type GridRecord = IGrid<IGridShape>;

/**
 * - `loading`: the record and blocks are on their way;
 * - `ready`: `grid` is the record, `drawing` the grid to draw;
 * - `gone`: the server says there is no such grid (deleted elsewhere, or a wrong id);
 * - `deleted`: deleted through this model;
 * - `removed`: deleted elsewhere while shown (`grid` and `drawing` are kept,
 *   so that a copy can still be made);
 * - `error`: the record could not be fetched (`error` says why).
 */
export type GridStatus =
  'loading' | 'ready' | 'gone' | 'deleted' | 'removed' | 'error';

export interface IGridModelOptions {
  /** The gallery's event stream: renames and deletions show at once. */
  events?: GalleryEvents | null;
  /** Ticks to show the grid's age anew. */
  clock?: Clock | null;
}

/** Whether `error` says that there is no such grid. */
function isNotFound(error: unknown): boolean {
  return (
    error instanceof BlocksAPIError &&
    error.kind === 'http' &&
    error.response.status === 404
  );
}

/** The state of one grid tab. */
export class GridModel implements IDisposable {
  constructor(
    readonly gridId: string,
    readonly client: BlocksClient,
    options: IGridModelOptions = {}
  ) {
    this._events = options.events ?? null;
    this._events?.changes.connect(this._onChanges, this);
    this._events?.resync.connect(this._onResync, this);
    options.clock?.ticked.connect(this._onTick, this);
  }

  /** Emitted whenever the status or the record changes. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emitted when the grid's age should be shown anew. */
  get ticked(): ISignal<this, void> {
    return this._ticked;
  }

  get status(): GridStatus {
    return this._status;
  }

  get grid(): GridRecord | null {
    return this._grid;
  }

  /** The grid's shape and blocks, once ready. */
  get drawing(): IPackedGrid | null {
    return this._grid && this._blocks
      ? { ...this._grid.grid_data, blocks: this._blocks }
      : null;
  }

  get error(): unknown {
    return this._error;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /**
   * Fetch the record and the blocks (again), both at once: the record without
   * its blocks, which come packed and compressed, ten times smaller than their
   * JSON.
   */
  async load(): Promise<void> {
    this._events?.start();
    this._set('loading', this._grid, null);
    try {
      const [grid, blocks] = await Promise.all([
        this.client.get(this.gridId),
        this.client.pixels(this.gridId)
      ]);
      const { width, height } = grid.grid_data;
      if (blocks.length !== width * height * 4) {
        throw new Error(
          `The blocks of the grid ${this.gridId} do not match its size, ${width} × ${height}`
        );
      }
      this._blocks = blocks;
      this._set('ready', grid, null);
    } catch (error) {
      this._set(isNotFound(error) ? 'gone' : 'error', null, error);
    }
  }

  /** Give the grid a new title; rejects with the server's reason. */
  async rename(title: string | null): Promise<void> {
    this._set('ready', await this.client.rename(this.gridId, title), null);
  }

  /** Delete the grid; rejects with the server's reason. */
  async remove(): Promise<void> {
    await this.client.remove(this.gridId);
    this._set('deleted', null, null);
  }

  /** The grid as a PNG image. */
  image(): Promise<Blob> {
    return this.client.image(this.gridId);
  }

  dispose(): void {
    if (!this._disposed) {
      this._disposed = true;
      Signal.disconnectReceiver(this);
      Signal.clearData(this);
    }
  }

  /** A rename shows at once; a deletion keeps what is shown, as `removed`. */
  private _onChanges(_: GalleryEvents, changes: readonly GridChange[]): void {
    const grid = this._grid;
    if (this._status !== 'ready' || !grid) {
      return;
    }
    for (const change of changes) {
      if (change.kind === 'renamed' && change.id === this.gridId) {
        this._set('ready', { ...grid, title: change.title }, null);
      } else if (change.kind === 'deleted' && change.id === this.gridId) {
        this._set('removed', this._grid, null);
        return;
      }
    }
  }

  /** Changes may have been missed: fetch the record again (the blocks never change). */
  private async _onResync(): Promise<void> {
    if (this._status === 'error') {
      return this.load();
    }
    if (this._status !== 'ready') {
      return;
    }
    try {
      const grid = await this.client.get(this.gridId);
      if (this._status === 'ready') {
        this._set('ready', grid, null);
      }
    } catch (error) {
      if (isNotFound(error) && this._status === 'ready') {
        this._set('removed', this._grid, null);
      }
      // Otherwise what is shown stays: the next resync tries again.
    }
  }

  private _onTick(): void {
    if (this._grid) {
      this._ticked.emit();
    }
  }

  private _set(
    status: GridStatus,
    grid: GridRecord | null,
    error: unknown
  ): void {
    if (this._disposed) {
      return;
    }
    this._status = status;
    this._grid = grid;
    this._error = error;
    this._changed.emit();
  }

  private readonly _events: GalleryEvents | null;
  private readonly _changed = new Signal<this, void>(this);
  private readonly _ticked = new Signal<this, void>(this);
  private _status: GridStatus = 'loading';
  private _grid: GridRecord | null = null;
  private _blocks: Uint8Array | null = null;
  private _error: unknown = null;
  private _disposed = false;
}
