import { relativeTime } from '../time';

const NOW = new Date('2026-11-25T13:05:00Z');

function ago(seconds: number): Date {
  return new Date(NOW.getTime() - seconds * 1000);
}

describe('relativeTime', () => {
  it.each([
    [0, 'just now'],
    [59, 'just now'],
    [-30, 'just now'],
    [60, '1 minute ago'],
    [5 * 60, '5 minutes ago'],
    [59 * 60 + 59, '59 minutes ago'],
    [3600, '1 hour ago'],
    [3 * 3600 + 120, '3 hours ago'],
    [24 * 3600, '1 day ago'],
    [6 * 24 * 3600, '6 days ago'],
    [7 * 24 * 3600, '1 week ago'],
    [45 * 24 * 3600, '1 month ago'],
    [400 * 24 * 3600, '1 year ago'],
    [3 * 365 * 24 * 3600, '3 years ago']
  ])('says %i seconds ago is "%s"', (seconds, expected) => {
    expect(relativeTime(ago(seconds), NOW)).toBe(expected);
  });

  it('reads ISO timestamps with microseconds and offsets', () => {
    expect(relativeTime(new Date('2026-11-25T13:00:00.123456+00:00'), NOW)).toBe(
      '4 minutes ago'
    );
  });

  it('copes with an invalid date', () => {
    expect(relativeTime(new Date('not a date'), NOW)).toBe('unknown time');
  });
});
