import type { DailyCost } from './forecast.js';

/*
 * Anomalous days: a customer's day whose cost is far above its own recent days. Pure.
 *
 * RULE: against the trailing 14 days before it (at least 7 of them known), the day is anomalous when
 *   cost − median > max(K × 1.4826 × MAD, RELATIVE × median)  and  cost − median ≥ MIN_EXCESS_MICROS,
 * where MAD is the median absolute deviation (1.4826 × MAD estimates the standard deviation of normal
 * noise, and unlike it is not dragged up by the spike itself or by an earlier one). The median and MAD
 * shrug off weekly rhythms (a quiet weekend is below the median, never above it), the relative floor
 * keeps a very steady customer's ordinary wobble from counting, and the minimum excess keeps cents from
 * paging anyone. Only rises are flagged: a drop is what weekends, holidays and finished projects look
 * like, and costs no money. A day is flagged once (the caller stores it).
 */

export const ANOMALY_WINDOW_DAYS = 14;
export const ANOMALY_MIN_HISTORY_DAYS = 7;
/** Robust standard deviations above the median. */
export const ANOMALY_K = 10;
/** And at least this share of the median above it (a day costing double a usual one at least). */
export const ANOMALY_RELATIVE = 1;
/** And at least $5 more than a usual day. */
export const ANOMALY_MIN_EXCESS_MICROS = 5_000_000n;

export interface AnomalyVerdict {
  anomalous: boolean;
  medianMicros: bigint;
  /** How far above the median the day is, in micro-dollars (negative: below). */
  excessMicros: bigint;
  /** The excess over the robust deviation (1.4826 × MAD); null when the deviation is zero. */
  score: number | null;
  /** Days of history the verdict rests on (fewer than ANOMALY_MIN_HISTORY_DAYS: never anomalous). */
  historyDays: number;
}

function median(values: readonly bigint[]): bigint {
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2n;
}

/** The verdict on `day` given the customer's days before it (any order; only the trailing window counts). */
export function judgeDay(day: DailyCost, before: readonly DailyCost[]): AnomalyVerdict {
  const from = new Date(Date.parse(`${day.date}T00:00:00Z`) - ANOMALY_WINDOW_DAYS * 86_400_000)
    .toISOString()
    .slice(0, 10);
  const window = before
    .filter((other) => other.date >= from && other.date < day.date)
    .map((other) => other.micros);
  if (window.length < ANOMALY_MIN_HISTORY_DAYS) {
    return { anomalous: false, medianMicros: 0n, excessMicros: 0n, score: null, historyDays: window.length };
  }
  const middle = median(window);
  const mad = median(window.map((value) => (value > middle ? value - middle : middle - value)));
  const excess = day.micros - middle;
  const deviation = 1.4826 * Number(mad);
  const threshold = Math.max(ANOMALY_K * deviation, ANOMALY_RELATIVE * Number(middle));
  return {
    anomalous: excess >= ANOMALY_MIN_EXCESS_MICROS && Number(excess) > threshold,
    medianMicros: middle,
    excessMicros: excess,
    score: deviation > 0 ? Number(excess) / deviation : null,
    historyDays: window.length,
  };
}
