/**
 * A poll whose interval doubles while nothing changes or on errors.
 */
import type { IDisposable } from '@lumino/disposable';

export interface IBackoffPollerOptions {
  /**
   * One check. Resolves true when something changed (the interval goes back
   * to `min`), false when nothing did; a rejection counts as "nothing changed".
   */
  tick: () => Promise<boolean>;
  /** First and shortest interval, in milliseconds. */
  min: number;
  /** Longest interval, in milliseconds. */
  max: number;
}

/**
 * Calls `tick` after `min` ms, then after twice as long each time nothing
 * changed, up to `max` ms. Runs only between `start()` and `stop()`; never
 * runs two ticks at once.
 */
export class BackoffPoller implements IDisposable {
  constructor(private readonly _options: IBackoffPollerOptions) {
    this._interval = _options.min;
  }

  /** The delay before the next tick, in milliseconds. */
  get interval(): number {
    return this._interval;
  }

  get isRunning(): boolean {
    return this._running;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Start polling (or restart) from the shortest interval. */
  start(): void {
    if (this._disposed) {
      return;
    }
    this._running = true;
    this._interval = this._options.min;
    this._schedule();
  }

  /** Stop polling; a tick in flight finishes but schedules nothing. */
  stop(): void {
    this._running = false;
    this._clear();
  }

  dispose(): void {
    this.stop();
    this._disposed = true;
  }

  private _schedule(): void {
    this._clear();
    if (this._running) {
      this._timer = setTimeout(() => void this._run(), this._interval);
    }
  }

  private async _run(): Promise<void> {
    this._timer = null;
    if (this._busy) {
      this._schedule();
      return;
    }
    this._busy = true;
    let changed = false;
    try {
      changed = await this._options.tick();
    } catch {
      changed = false;
    } finally {
      this._busy = false;
    }
    if (!this._running || this._timer !== null) {
      // Stopped, or restarted by `start()` while the tick was in flight.
      return;
    }
    this._interval = changed
      ? this._options.min
      : Math.min(this._interval * 2, this._options.max);
    this._schedule();
  }

  private _clear(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _interval: number;
  private _running = false;
  private _busy = false;
  private _disposed = false;
  private _timer: ReturnType<typeof setTimeout> | null = null;
}
