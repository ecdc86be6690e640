/**
 * Relative time labels such as "5 minutes ago".
 */

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60]
];

const formatter = new Intl.RelativeTimeFormat('en', { numeric: 'always' });

/**
 * How long ago `then` was, seen from `now`, in English: "just now" under a
 * minute, else the largest whole unit ("5 minutes ago", "1 day ago").
 * Times slightly in the future (clock skew) count as "just now".
 */
export function relativeTime(then: Date, now: Date = new Date()): string {
  const seconds = Math.floor((now.getTime() - then.getTime()) / 1000);
  if (Number.isNaN(seconds)) {
    return 'unknown time';
  }
  for (const [unit, size] of UNITS) {
    if (seconds >= size) {
      return formatter.format(-Math.floor(seconds / size), unit);
    }
  }
  return 'just now';
}
