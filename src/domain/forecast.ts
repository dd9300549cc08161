/*
 * The projected cost of a customer's current period at its end, from the days collected so far and
 * the days before. Pure: the API, the billing page and the bench agree.
 *
 * METHOD: a weekday-aware log-linear trend. Platform usage has a weekly rhythm (weekends quieter) and
 * drifts multiplicatively (a team growing its workloads by some per cent a week, a project winding
 * down). A straight run-rate (spent so far ÷ days elapsed × days in the period) ignores both: it lags
 * any trend by half the period, and early in a period its few days carry the rhythm's noise. So, over
 * the trailing window (up to 28 days, whole weeks when there are enough; the days before the period
 * count too):
 *
 * 1. ln(cost) is fitted by least squares to a line in time (the drift), then each weekday's mean
 *    residual is its effect (shrunk towards zero while a weekday has fewer than 3 samples), and the
 *    line is fitted again to ln(cost) minus the weekday effects;
 * 2. each remaining day of the period is forecast as exp(line + weekday effect + σ²/2) (σ² the fit's
 *    residual variance: the mean of a log-normal day, not its median), the daily drift capped at ±5 %
 *    so a wild fortnight does not explode;
 * 3. the projection is the cost so far plus those days.
 * Fewer than 7 days of history, or a day of zero cost in the window (logarithms of nothing), fall back
 * to the run-rate, and say so (`method`).
 *
 * Its error, against the run-rate, on simulated histories with weekly patterns, drifts and noise, is
 * measured by `npm run bench forecast` (docs/benchmarks.md). Micro-dollars as bigint at the edges; the
 * arithmetic in between is floating point over estimates, rounded once to the micro-dollar at the end
 * (a forecast is not a bill).
 */

export interface DailyCost {
  /** `YYYY-MM-DD` (UTC). */
  date: string;
  micros: bigint;
}

export interface Forecast {
  method: 'weekday_trend' | 'run_rate';
  /** What the period has cost so far (the days collected). */
  soFarMicros: bigint;
  /** The projected cost of the whole period. */
  projectedMicros: bigint;
  daysCollected: number;
  daysInPeriod: number;
}

const DAY_MS = 86_400_000;
/** Days of history the fit reads at most. */
const WINDOW_DAYS = 28;
const MIN_HISTORY_DAYS = 7;
/** Samples per weekday at which its effect is taken as measured (fewer: shrunk towards zero). */
const EFFECT_CONFIDENCE = 3;
const MAX_DAILY_DRIFT = 0.05;

const weekday = (date: string) => new Date(`${date}T00:00:00Z`).getUTCDay();
const addDays = (date: string, days: number) =>
  new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
const daysBetween = (from: string, to: string) =>
  Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS);

/** The straight run-rate: spent so far ÷ days collected × days in the period (the baseline). */
export function runRateForecast(
  period: { start: string; end: string },
  days: readonly DailyCost[],
): Forecast {
  const inPeriod = days.filter((day) => day.date >= period.start && day.date < period.end);
  const soFar = inPeriod.reduce((sum, day) => sum + day.micros, 0n);
  const daysInPeriod = daysBetween(period.start, period.end);
  const collected = inPeriod.length;
  const projected = collected === 0 ? 0n : (soFar * BigInt(daysInPeriod)) / BigInt(collected);
  return {
    method: 'run_rate',
    soFarMicros: soFar,
    projectedMicros: projected,
    daysCollected: collected,
    daysInPeriod,
  };
}

/** Least squares of `ys` on `xs`: intercept and slope. */
function fitLine(xs: readonly number[], ys: readonly number[]): { a: number; b: number } {
  const n = xs.length;
  const mx = xs.reduce((sum, x) => sum + x, 0) / n;
  const my = ys.reduce((sum, y) => sum + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  xs.forEach((x, i) => {
    sxy += (x - mx) * (ys[i]! - my);
    sxx += (x - mx) ** 2;
  });
  const b = sxx === 0 ? 0 : sxy / sxx;
  return { a: my - b * mx, b };
}

/**
 * The projection of the period `[start, end)` (dates, end exclusive) from `days`: the customer's
 * collected days up to now, any order (days before the period teach the rhythm and the drift).
 */
export function forecastPeriod(period: { start: string; end: string }, days: readonly DailyCost[]): Forecast {
  const history = [...days].filter((day) => day.date < period.end).sort((a, b) => (a.date < b.date ? -1 : 1));
  const baseline = runRateForecast(period, history);
  let window = history.slice(-WINDOW_DAYS);
  if (window.length >= 14) window = window.slice(window.length % 7);
  if (window.length < MIN_HISTORY_DAYS || window.some((day) => day.micros <= 0n)) return baseline;

  const origin = window[0]!.date;
  const xs = window.map((day) => daysBetween(origin, day.date));
  const logs = window.map((day) => Math.log(Number(day.micros)));
  const first = fitLine(xs, logs);
  const effects = Array.from({ length: 7 }, (_, index) => {
    const residuals = window.flatMap((day, i) =>
      weekday(day.date) === index ? [logs[i]! - (first.a + first.b * xs[i]!)] : [],
    );
    if (residuals.length === 0) return 0;
    const mean = residuals.reduce((sum, value) => sum + value, 0) / residuals.length;
    return mean * Math.min(1, residuals.length / EFFECT_CONFIDENCE);
  });
  const adjusted = logs.map((value, i) => value - effects[weekday(window[i]!.date)]!);
  const line = fitLine(xs, adjusted);
  const variance =
    adjusted.reduce((sum, value, i) => sum + (value - (line.a + line.b * xs[i]!)) ** 2, 0) /
    Math.max(1, adjusted.length - 2);
  const drift = Math.max(-MAX_DAILY_DRIFT, Math.min(MAX_DAILY_DRIFT, line.b));

  let remaining = 0;
  for (let date = addDays(history.at(-1)!.date, 1); date < period.end; date = addDays(date, 1)) {
    if (date < period.start) continue; // a gap before the period is not the period's
    const x = daysBetween(origin, date);
    remaining += Math.exp(line.a + drift * x + effects[weekday(date)]! + variance / 2);
  }
  return {
    method: 'weekday_trend',
    soFarMicros: baseline.soFarMicros,
    projectedMicros: baseline.soFarMicros + BigInt(Math.round(remaining)),
    daysCollected: baseline.daysCollected,
    daysInPeriod: baseline.daysInPeriod,
  };
}
