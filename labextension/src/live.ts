/**
 * What keeps the panel and the grid tabs live: the gallery's event stream
 * (one websocket per page, shared by every model) and a clock for ages.
 */
import type { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { type ISignal, Signal } from '@lumino/signaling';

import type { EventFrame, GridChange } from './api';

/** The part of a `WebSocket` the event stream uses (tests give a fake one). */
export interface ISocket {
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  close(): void;
}

export interface IGalleryEventsOptions {
  /** Open a socket to the event stream (`BlocksClient.events`). */
  connect: () => ISocket | Promise<ISocket>;
  /** Milliseconds before the first reconnection; doubled after each failure. */
  retryDelay?: number;
  /** The longest wait between two reconnections, in milliseconds. */
  maxRetryDelay?: number;
}

/**
 * The gallery's event stream, `blocks/api/events`: changes of public grids
 * as they happen. A socket the server closes (or that cannot open) is opened
 * again after a growing delay; every `hello` that follows an earlier
 * connection or failure asks the models to resync what they show, as
 * changes made meanwhile were not announced to this page.
 */
export class GalleryEvents implements IDisposable {
  constructor(options: IGalleryEventsOptions) {
    this._connect = options.connect;
    this._retryDelay = options.retryDelay ?? 1000;
    this._maxRetryDelay = options.maxRetryDelay ?? 30 * 1000;
  }

  /** Changes of public grids, a batch per frame, oldest first. */
  get changes(): ISignal<this, readonly GridChange[]> {
    return this._changes;
  }

  /** Emitted when what was shown may have missed changes: refetch it. */
  get resync(): ISignal<this, void> {
    return this._resync;
  }

  /** Emitted when `connected` changes. */
  get connectedChanged(): ISignal<this, boolean> {
    return this._connectedChanged;
  }

  /** Whether the stream is open (the server said hello): no need to poll. */
  get connected(): boolean {
    return this._connected;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Open the stream, once (later calls do nothing). */
  start(): void {
    if (!this._started && !this._disposed) {
      this._started = true;
      this._open();
    }
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    window.clearTimeout(this._timer);
    this._close();
    Signal.clearData(this);
  }

  private _open(): void {
    let opened: ISocket | Promise<ISocket>;
    try {
      opened = this._connect();
    } catch {
      this._retry();
      return;
    }
    if (opened instanceof Promise) {
      opened.then(
        socket => this._attach(socket),
        () => this._retry()
      );
    } else {
      this._attach(opened);
    }
  }

  private _attach(socket: ISocket): void {
    if (this._disposed) {
      socket.close();
      return;
    }
    this._socket = socket;
    socket.onmessage = event => {
      if (socket === this._socket) {
        this._onFrame(event.data);
      }
    };
    socket.onclose = () => {
      if (socket === this._socket) {
        this._socket = null;
        this._setConnected(false);
        this._retry();
      }
    };
  }

  private _onFrame(data: unknown): void {
    let frame: EventFrame;
    try {
      frame = JSON.parse(String(data)) as EventFrame;
    } catch {
      return; // Not ours to understand; the next hello resyncs anyway.
    }
    if (frame?.type === 'hello') {
      const missed = this._hellos > 0 || this._failures > 0;
      this._hellos++;
      this._failures = 0;
      this._setConnected(true);
      if (missed) {
        this._resync.emit();
      }
    } else if (frame?.type === 'changes' && Array.isArray(frame.events)) {
      this._changes.emit(frame.events);
    }
  }

  /** Open again after a delay that doubles with each failure in a row. */
  private _retry(): void {
    if (this._disposed) {
      return;
    }
    const delay = Math.min(
      this._maxRetryDelay,
      this._retryDelay * 2 ** this._failures
    );
    this._failures++;
    this._timer = window.setTimeout(() => this._open(), delay);
  }

  private _close(): void {
    const socket = this._socket;
    this._socket = null;
    if (socket) {
      socket.onmessage = socket.onclose = null;
      socket.close();
    }
  }

  private _setConnected(value: boolean): void {
    if (value !== this._connected) {
      this._connected = value;
      this._connectedChanged.emit(value);
    }
  }

  private readonly _connect: () => ISocket | Promise<ISocket>;
  private readonly _retryDelay: number;
  private readonly _maxRetryDelay: number;
  private readonly _changes = new Signal<this, readonly GridChange[]>(this);
  private readonly _resync = new Signal<this, void>(this);
  private readonly _connectedChanged = new Signal<this, boolean>(this);
  private _socket: ISocket | null = null;
  private _timer = 0;
  private _hellos = 0;
  private _failures = 0;
  private _connected = false;
  private _started = false;
  private _disposed = false;
}

/**
 * Ticks every `interval` ms while the browser tab is visible, so that ages
 * ("5 min. ago") are shown anew.
 */
export class Clock implements IDisposable {
  constructor(interval = 30 * 1000) {
    this._poll = new Poll({
      factory: async () => this._ticked.emit(),
      frequency: { interval, backoff: false },
      name: 'jupyter-blocks:clock',
      standby: 'when-hidden'
    });
  }

  get ticked(): ISignal<this, void> {
    return this._ticked;
  }

  get isDisposed(): boolean {
    return this._poll.isDisposed;
  }

  dispose(): void {
    if (!this.isDisposed) {
      this._poll.dispose();
      Signal.clearData(this);
    }
  }

  private readonly _poll: Poll;
  private readonly _ticked = new Signal<this, void>(this);
}
