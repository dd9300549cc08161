import type { DailyCost } from '../domain/forecast.js';
import type { Queryable } from './pool.js';

/** Each customer's collected days from `from` to `to` (inclusive): the day's cost over its clusters. */
export async function dailyCosts(
  db: Queryable,
  customerIds: readonly string[],
  from: string,
  to: string,
): Promise<Map<string, DailyCost[]>> {
  const { rows } = await db.query<{ customerId: string; date: string; micros: string }>(
    `SELECT customer_id AS "customerId", to_char(usage_date, 'YYYY-MM-DD') AS date,
            sum(total_cost_micros)::text AS micros
     FROM usage_daily
     WHERE customer_id = ANY($1::text[]) AND usage_date BETWEEN $2::date AND $3::date
     GROUP BY customer_id, usage_date
     ORDER BY customer_id, usage_date`,
    [customerIds, from, to],
  );
  const costs = new Map<string, DailyCost[]>();
  for (const row of rows) {
    const days = costs.get(row.customerId) ?? [];
    days.push({ date: row.date, micros: BigInt(row.micros) });
    costs.set(row.customerId, days);
  }
  return costs;
}

export interface AnomalyRow {
  customerId: string;
  usageDate: string;
  costMicros: bigint;
  medianMicros: bigint;
  score: number | null;
}

/** Records an anomalous day; false when it was flagged before (a collection run again). */
export async function recordAnomaly(db: Queryable, anomaly: AnomalyRow): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO usage_anomalies (customer_id, usage_date, cost_micros, median_micros, score)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
    [anomaly.customerId, anomaly.usageDate, anomaly.costMicros, anomaly.medianMicros, anomaly.score],
  );
  return rowCount === 1;
}

export interface AnomalyReportRow extends AnomalyRow {
  email: string;
  flaggedAt: Date;
}

/** The latest flagged days, newest first (the admins' report). */
export async function listAnomalies(
  db: Queryable,
  options: { limit: number; customerId?: string },
): Promise<AnomalyReportRow[]> {
  const { rows } = await db.query<{
    customerId: string;
    email: string;
    usageDate: string;
    costMicros: string;
    medianMicros: string;
    score: string | null;
    flaggedAt: Date;
  }>(
    `SELECT a.customer_id AS "customerId", c.email, to_char(a.usage_date, 'YYYY-MM-DD') AS "usageDate",
            a.cost_micros::text AS "costMicros", a.median_micros::text AS "medianMicros",
            a.score::text AS score, a.flagged_at AS "flaggedAt"
     FROM usage_anomalies a JOIN customers c ON c.id = a.customer_id
     WHERE $2::text IS NULL OR a.customer_id = $2
     ORDER BY a.usage_date DESC, a.customer_id LIMIT $1`,
    [options.limit, options.customerId ?? null],
  );
  return rows.map((row) => ({
    ...row,
    costMicros: BigInt(row.costMicros),
    medianMicros: BigInt(row.medianMicros),
    score: row.score === null ? null : Number(row.score),
  }));
}

export interface SpendAlertCustomer {
  id: string;
  email: string;
  spendAlertMicros: bigint;
  periodStart: Date;
  periodEnd: Date;
}

/** Of `ids`, the customers with a spend alert and a current period. */
export async function spendAlertCustomers(
  db: Queryable,
  ids: readonly string[],
): Promise<SpendAlertCustomer[]> {
  const { rows } = await db.query<{
    id: string;
    email: string;
    spendAlertMicros: string;
    periodStart: Date;
    periodEnd: Date;
  }>(
    `SELECT id, email, spend_alert_micros::text AS "spendAlertMicros",
            current_period_start AS "periodStart", current_period_end AS "periodEnd"
     FROM customers
     WHERE id = ANY($1::text[]) AND spend_alert_micros IS NOT NULL
       AND current_period_start IS NOT NULL AND current_period_end IS NOT NULL`,
    [ids],
  );
  return rows.map((row) => ({ ...row, spendAlertMicros: BigInt(row.spendAlertMicros) }));
}

/** Sets (or, with null, removes) the customer's monthly spend alert; false for an unknown customer. */
export async function setSpendAlert(
  db: Queryable,
  customerId: string,
  micros: bigint | null,
): Promise<boolean> {
  const { rowCount } = await db.query(`UPDATE customers SET spend_alert_micros = $2 WHERE id = $1`, [
    customerId,
    micros,
  ]);
  return rowCount === 1;
}

export async function spendAlertOf(db: Queryable, customerId: string): Promise<bigint | null> {
  const { rows } = await db.query<{ micros: string | null }>(
    `SELECT spend_alert_micros::text AS micros FROM customers WHERE id = $1`,
    [customerId],
  );
  return rows[0]?.micros ? BigInt(rows[0].micros) : null;
}
