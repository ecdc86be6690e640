import { BackoffPoller } from '../poller';

/** Let the poller's awaited tick settle. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await Promise.resolve();
  }
}

describe('BackoffPoller', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('doubles the interval while nothing changes, up to the maximum', async () => {
    const tick = jest.fn(async () => false);
    const poller = new BackoffPoller({ tick, min: 5000, max: 60000 });
    poller.start();
    const intervals: number[] = [];
    for (let i = 0; i < 6; i++) {
      intervals.push(poller.interval);
      jest.advanceTimersByTime(poller.interval);
      await settle();
    }
    expect(intervals).toEqual([5000, 10000, 20000, 40000, 60000, 60000]);
    expect(tick).toHaveBeenCalledTimes(6);
    poller.dispose();
  });

  it('goes back to the shortest interval when something changed', async () => {
    let changed = false;
    const poller = new BackoffPoller({ tick: async () => changed, min: 5000, max: 60000 });
    poller.start();
    jest.advanceTimersByTime(5000);
    await settle();
    expect(poller.interval).toBe(10000);
    changed = true;
    jest.advanceTimersByTime(10000);
    await settle();
    expect(poller.interval).toBe(5000);
    poller.dispose();
  });

  it('backs off on errors', async () => {
    const poller = new BackoffPoller({
      tick: () => Promise.reject(new Error('offline')),
      min: 5000,
      max: 60000
    });
    poller.start();
    jest.advanceTimersByTime(5000);
    await settle();
    expect(poller.interval).toBe(10000);
    poller.dispose();
  });

  it('does not tick once stopped, and restarts from the shortest interval', async () => {
    const tick = jest.fn(async () => false);
    const poller = new BackoffPoller({ tick, min: 5000, max: 60000 });
    poller.start();
    jest.advanceTimersByTime(5000);
    await settle();
    poller.stop();
    jest.advanceTimersByTime(120000);
    await settle();
    expect(tick).toHaveBeenCalledTimes(1);
    expect(poller.isRunning).toBe(false);
    poller.start();
    expect(poller.interval).toBe(5000);
    jest.advanceTimersByTime(5000);
    await settle();
    expect(tick).toHaveBeenCalledTimes(2);
    poller.dispose();
    expect(poller.isDisposed).toBe(true);
  });
});
