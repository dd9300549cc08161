/**
 * The client-side rate limit of the Stripe sync's requests (v1 meter events and the v2 meter event
 * stream alike): requests start evenly spaced so that no second holds more than `rate` of them, and a 429
 * pauses every request of the sync, not just the one refused.
 */
import pThrottle from 'p-throttle';

const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 20_000;

export class Pacer {
  private readonly slot: () => Promise<void>;
  private pausedUntil = 0;

  /**
   * Up to 1,000 a second, one request every ⌈1000 / rate⌉ ms; above, ⌊rate / 100⌋ every 10 ms (timers are
   * not finer than a millisecond).
   */
  constructor(rate: number) {
    if (!Number.isFinite(rate) || rate <= 0) throw new RangeError('rate must be positive');
    const spacing =
      rate <= 1_000
        ? { limit: 1, interval: Math.ceil(1000 / rate) }
        : { limit: Math.floor(rate / 100), interval: 10 };
    this.slot = pThrottle(spacing)(async () => {});
  }

  /** A slot of the rate limit outside any pause; a slot that falls inside a pause is given up. */
  async acquire(): Promise<void> {
    for (;;) {
      const wait = this.pausedUntil - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      await this.slot();
      if (Date.now() >= this.pausedUntil) return;
    }
  }

  /** Every request waits `ms` from now (a 429, a backoff). */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + ms);
  }
}

/** Full jitter: a random delay up to base × 2^(attempt − 1), capped. */
export function backoff(attempt: number): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
  return Math.max(BACKOFF_BASE_MS / 2, Math.random() * ceiling);
}

/** `Retry-After` in seconds or as an HTTP date, in milliseconds from now; null when absent or unreadable. */
export function retryAfterMs(header: string | undefined): number | null {
  if (!header) return null;
  if (/^\d+(\.\d+)?$/.test(header.trim())) return Number(header) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}
