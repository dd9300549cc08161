import { enqueueNotification } from '../db/notifications.js';
import type { Queryable } from '../db/pool.js';
import { dailyCosts, recordAnomaly, spendAlertCustomers } from '../db/usage-review.js';
import { ANOMALY_WINDOW_DAYS, judgeDay } from '../domain/anomalies.js';
import { finalUsageDay, firstUsageDay } from '../domain/billing-period.js';
import { forecastPeriod, type Forecast } from '../domain/forecast.js';
import { formatUsd } from '../domain/money.js';

/*
 * What the daily collection does after it wrote a day: each customer's day judged against its own
 * recent days (an anomalous one flagged once and notified through the outbox), and the current
 * period's forecast compared with the customer's monthly spend alert (notified once per period).
 */

const DAY_MS = 86_400_000;
/** Days the forecast reads before a period (its trend window and the weekday rhythm). */
const FORECAST_HISTORY_DAYS = 35;

const isoDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * A period's days, `[start, end)` as dates, by the ledger's rule: a day belongs to the period holding
 * its noon (UTC).
 */
export function periodDates(period: { start: Date; end: Date }): { start: string; end: string } {
  const seconds = { start: period.start.getTime() / 1000, end: period.end.getTime() / 1000 };
  const last = finalUsageDay(seconds);
  return { start: firstUsageDay(seconds), end: isoDate(Date.parse(`${last}T00:00:00Z`) + DAY_MS) };
}

/** The projection of the customer's current period, from its collected days. */
export async function customerForecast(
  db: Queryable,
  customerId: string,
  period: { start: Date; end: Date },
): Promise<Forecast> {
  const dates = periodDates(period);
  const from = isoDate(Date.parse(`${dates.start}T00:00:00Z`) - FORECAST_HISTORY_DAYS * DAY_MS);
  const days = (await dailyCosts(db, [customerId], from, dates.end)).get(customerId) ?? [];
  return forecastPeriod(dates, days);
}

export interface ReviewResult {
  anomalies: number;
  spendAlerts: number;
}

export async function reviewCollectedDay(
  db: Queryable,
  customerIds: readonly string[],
  date: string,
): Promise<ReviewResult> {
  const result: ReviewResult = { anomalies: 0, spendAlerts: 0 };
  if (customerIds.length === 0) return result;
  const dayMs = Date.parse(`${date}T00:00:00Z`);
  const from = isoDate(dayMs - Math.max(ANOMALY_WINDOW_DAYS, FORECAST_HISTORY_DAYS + 31) * DAY_MS);
  const costs = await dailyCosts(db, customerIds, from, date);

  for (const [customerId, days] of costs) {
    const day = days.find((candidate) => candidate.date === date);
    if (!day) continue;
    const verdict = judgeDay(day, days);
    if (!verdict.anomalous) continue;
    const recorded = await recordAnomaly(db, {
      customerId,
      usageDate: date,
      costMicros: day.micros,
      medianMicros: verdict.medianMicros,
      score: verdict.score === null ? null : Math.round(verdict.score * 100) / 100,
    });
    if (!recorded) continue;
    result.anomalies++;
    await enqueueNotification(db, {
      customerId,
      kind: 'usage_anomaly',
      idempotencyKey: `anomaly:${customerId}:${date}`,
      payload: {
        date,
        cost: formatUsd(day.micros),
        usual: formatUsd(verdict.medianMicros),
        costMicros: day.micros.toString(),
        usualMicros: verdict.medianMicros.toString(),
      },
    });
  }

  for (const customer of await spendAlertCustomers(db, customerIds)) {
    const dates = periodDates({ start: customer.periodStart, end: customer.periodEnd });
    if (date < dates.start || date >= dates.end) continue;
    const forecast = forecastPeriod(dates, costs.get(customer.id) ?? []);
    if (forecast.projectedMicros < customer.spendAlertMicros) continue;
    // One per period: the outbox keeps the first notification under its key.
    const sent = await enqueueNotification(db, {
      customerId: customer.id,
      kind: 'spend_alert',
      idempotencyKey: `spend-alert:${customer.id}:${dates.start}`,
      payload: {
        email: customer.email,
        periodStart: dates.start,
        periodEnd: dates.end,
        alert: formatUsd(customer.spendAlertMicros),
        projected: formatUsd(forecast.projectedMicros),
        projectedMicros: forecast.projectedMicros.toString(),
        method: forecast.method,
      },
    });
    if (sent) result.spendAlerts++;
  }
  return result;
}
