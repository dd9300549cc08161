import { z } from 'zod';
import type { Forecast } from '../src/domain/forecast.js';
import { formatUsd } from '../src/domain/money.js';

/** The period's forecast as the customer and admin routes show it (src/domain/forecast.ts). */
export const forecastAnswer = z.object({
  method: z
    .enum(['weekday_trend', 'run_rate'])
    .describe('weekday_trend; run_rate with under 7 days of history'),
  soFar: z.string(),
  soFarMicros: z.string(),
  projected: z.string().describe("The period's projected cost at its end, USD"),
  projectedMicros: z.string(),
  daysCollected: z.number().int(),
  daysInPeriod: z.number().int(),
  spendAlert: z.string().nullable().describe('The monthly spend alert, if set'),
  spendAlertReached: z.boolean(),
});

export function forecastJson(forecast: Forecast, spendAlertMicros: bigint | null) {
  return {
    method: forecast.method,
    soFar: formatUsd(forecast.soFarMicros),
    soFarMicros: forecast.soFarMicros.toString(),
    projected: formatUsd(forecast.projectedMicros),
    projectedMicros: forecast.projectedMicros.toString(),
    daysCollected: forecast.daysCollected,
    daysInPeriod: forecast.daysInPeriod,
    spendAlert: spendAlertMicros === null ? null : formatUsd(spendAlertMicros),
    spendAlertReached: spendAlertMicros !== null && forecast.projectedMicros >= spendAlertMicros,
  };
}

export const spendAlertBody = z.object({
  amount: z
    .string()
    .regex(
      /^(?!0+(\.0+)?$)\d{1,9}(\.\d{1,2})?$/,
      'must be a positive USD amount in whole cents, such as "250" or "99.50"',
    )
    .nullable()
    .describe('USD a month; null removes the alert'),
});

export function spendAlertJson(micros: bigint | null) {
  return {
    spendAlert: micros === null ? null : formatUsd(micros),
    spendAlertMicros: micros?.toString() ?? null,
  };
}
