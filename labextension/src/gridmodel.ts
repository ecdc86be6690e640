/**
 * One grid shown in a tab: its record and its blocks, fetched and changed
 * through the API.
 */
import type { IDisposable } from '@lumino/disposable';
import { type ISignal, Signal } from '@lumino/signaling';

import {
  BlocksAPIError,
  type BlocksClient,
  type IGrid,
  type IGridShape
} from './api';
import type { IPackedGrid } from './draw';

/** A record without its blocks, as the tab fetches it. */
export type GridRecord = IGrid<IGridShape>;

/**
 * - `loading`: the record and blocks are on their way;
 * - `ready`: `grid` is the record, `drawing` the grid to draw;
 * - `gone`: the server says there is no such grid (deleted elsewhere, or a wrong id);
 * - `deleted`: deleted through this model;
 * - `error`: the record could not be fetched (`error` says why).
 */
export type GridStatus = 'loading' | 'ready' | 'gone' | 'deleted' | 'error';

/** The state of one grid tab. */
export class GridModel implements IDisposable {
  constructor(
    readonly gridId: string,
    readonly client: BlocksClient
  ) {}

  /** Emitted whenever the status or the record changes. */
  get changed(): ISignal<this, void> {
    return this._changed;
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
      const gone =
        error instanceof BlocksAPIError &&
        error.kind === 'http' &&
        error.response.status === 404;
      this._set(gone ? 'gone' : 'error', null, error);
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
      Signal.clearData(this);
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

  private readonly _changed = new Signal<this, void>(this);
  private _status: GridStatus = 'loading';
  private _grid: GridRecord | null = null;
  private _blocks: Uint8Array | null = null;
  private _error: unknown = null;
  private _disposed = false;
}
