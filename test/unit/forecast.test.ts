import { describe, expect, it } from 'vitest';
import { ANOMALY_MIN_EXCESS_MICROS, judgeDay } from '../../src/domain/anomalies.js';
import { forecastPeriod, runRateForecast, type DailyCost } from '../../src/domain/forecast.js';
import { simulateCustomers } from '../helpers/simulated-usage.js';

const DAY_MS = 86_400_000;
const date = (offset: number) =>
  new Date(Date.parse('2026-03-01T00:00:00Z') + offset * DAY_MS).toISOString().slice(0, 10);
/** Days from 2026-03-01 + `from`, each costing `cost(date)` micro-dollars. */
const days = (from: number, count: number, cost: (day: string) => number): DailyCost[] =>
  Array.from({ length: count }, (_, index) => {
    const day = date(from + index);
    return { date: day, micros: BigInt(cost(day)) };
  });
const weekend = (day: string) => [0, 6].includes(new Date(`${day}T00:00:00Z`).getUTCDay());
const april = { start: '2026-04-01', end: '2026-05-01' };

describe('forecastPeriod', () => {
  it('should project a steady customer to its days times its daily cost', () => {
    const history = days(0, 45, () => 10_000_000); // March and half of April at $10 a day
    const forecast = forecastPeriod(april, history);
    expect(forecast).toMatchObject({
      method: 'weekday_trend',
      soFarMicros: 140_000_000n,
      daysCollected: 14,
      daysInPeriod: 30,
    });
    expect(Number(forecast.projectedMicros)).toBeCloseTo(300_000_000, -3);
  });

  it('should count the weekends left as quiet ones, where the run-rate does not', () => {
    // $10 on weekdays, $2 on weekends; the first 14 days of April hold 4 weekend days, the rest 4 of 16.
    const cost = (day: string) => (weekend(day) ? 2_000_000 : 10_000_000);
    const history = days(0, 45, cost);
    const actual = days(31, 30, cost).reduce((sum, day) => sum + day.micros, 0n);
    const forecast = forecastPeriod(april, history);
    expect(Math.abs(Number(forecast.projectedMicros - actual)) / Number(actual)).toBeLessThan(0.005);
    expect(
      Math.abs(Number(runRateForecast(april, history).projectedMicros - actual)) / Number(actual),
    ).toBeGreaterThan(0.01);
  });

  it('should follow a growing customer, where the run-rate lags', () => {
    const cost = (day: string) =>
      Math.round(10_000_000 * Math.exp(0.02 * ((Date.parse(day) - Date.parse('2026-03-01')) / DAY_MS)));
    const history = days(0, 45, cost);
    const actual = days(31, 30, cost).reduce((sum, day) => sum + day.micros, 0n);
    const error = (projected: bigint) => Math.abs(Number(projected - actual)) / Number(actual);
    expect(error(forecastPeriod(april, history).projectedMicros)).toBeLessThan(0.005);
    expect(error(runRateForecast(april, history).projectedMicros)).toBeGreaterThan(0.1);
  });

  it('should fall back to the run-rate with too little history or a day of no cost, and say so', () => {
    expect(
      forecastPeriod(
        april,
        days(31, 3, () => 5_000_000),
      ),
    ).toMatchObject({
      method: 'run_rate',
      projectedMicros: 150_000_000n,
    });
    expect(
      forecastPeriod(
        april,
        days(20, 20, (day) => (day === date(35) ? 0 : 5_000_000)),
      ).method,
    ).toBe('run_rate');
    expect(forecastPeriod(april, [])).toMatchObject({ projectedMicros: 0n, daysCollected: 0 });
  });
});

describe('judgeDay (anomalies)', () => {
  const usual = days(0, 14, (day) => (weekend(day) ? 3_000_000 : 20_000_000));

  it('should flag a day far above its recent days', () => {
    const verdict = judgeDay({ date: date(14), micros: 120_000_000n }, usual);
    expect(verdict).toMatchObject({ anomalous: true, medianMicros: 20_000_000n, historyDays: 14 });
  });

  it('should not flag an ordinary weekday, a quiet day, a small excess or a day without enough history', () => {
    expect(judgeDay({ date: date(14), micros: 21_000_000n }, usual).anomalous).toBe(false);
    expect(judgeDay({ date: date(14), micros: 0n }, usual).anomalous).toBe(false);
    const cheap = days(0, 14, () => 100_000);
    expect(
      judgeDay({ date: date(14), micros: 100_000n + ANOMALY_MIN_EXCESS_MICROS - 1n }, cheap).anomalous,
    ).toBe(false);
    expect(judgeDay({ date: date(14), micros: 500_000_000n }, usual.slice(-5))).toMatchObject({
      anomalous: false,
      historyDays: 5,
    });
  });

  it('should flag the injected spikes of a small simulated history and little else', () => {
    const customers = simulateCustomers({
      customers: 40,
      start: '2026-01-01',
      days: 60,
      seed: 11,
      spikes: 5,
    });
    const flagged = customers.flatMap((customer) =>
      customer.days.flatMap((day, index) =>
        judgeDay(day, customer.days.slice(0, index)).anomalous ? [`${customer.id}:${day.date}`] : [],
      ),
    );
    const spikes = customers.flatMap((customer) => customer.spikes.map((day) => `${customer.id}:${day}`));
    expect(spikes).toHaveLength(5);
    expect(flagged).toEqual(expect.arrayContaining(spikes));
    expect(flagged.length - spikes.length).toBeLessThanOrEqual(1);
  });
});
