/** Durations in milliseconds, for arithmetic on `Date.getTime()` and Temporal timers (pure: workflows import it). */
export const MINUTE_MS = 60 * 1000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;
