import { describe, expect, it } from 'vitest';
import {
  addQuantities,
  bytesToGb,
  mergeDailyUsage,
  overlapMs,
  parseKubernetesQuantity,
  quantityFromTotal,
  roundUpToScale,
  utcDay,
  type Interval,
} from '../../src/usage/quantities.js';

const millis = (text: string) => roundUpToScale(parseKubernetesQuantity(text), 1000n);
const units = (text: string) => roundUpToScale(parseKubernetesQuantity(text), 1n);
const at = (iso: string) => BigInt(Date.parse(iso));
const interval = (start: string, end: string): Interval => ({ start: at(start), end: at(end) });

describe('parseKubernetesQuantity', () => {
  it.each([
    ['500m', 500n, 1n],
    ['1.5', 1500n, 2n],
    ['2', 2000n, 2n],
    ['.5', 500n, 1n],
    ['2.', 2000n, 2n],
    ['+1', 1000n, 1n],
    ['1k', 1_000_000n, 1000n],
    ['1E3', 1_000_000n, 1000n],
    ['2.5e-3', 3n, 1n], // 2.5 millicores reserve 3 (rounded up)
    ['0.1m', 1n, 1n],
    ['100n', 1n, 1n],
    ['0', 0n, 0n],
  ])('should read CPU %s as %s millicores and %s whole units, rounded up', (text, m, whole) => {
    expect(millis(text)).toBe(m);
    expect(units(text)).toBe(whole);
  });

  it.each([
    ['2Gi', 2_147_483_648n],
    ['123Mi', 128_974_848n],
    ['128974848', 128_974_848n],
    ['129e6', 129_000_000n],
    ['129M', 129_000_000n],
    ['1.5Gi', 1_610_612_736n],
    ['0.5Ki', 512n],
    ['1Ei', 2n ** 60n],
    ['1E', 10n ** 18n],
    ['1Ti', 1_099_511_627_776n],
    ['1.0000000001', 2n], // exact: not 1 after a float round trip
  ])('should read %s as %s bytes exactly', (text, bytes) => {
    expect(units(text)).toBe(bytes);
  });

  it('should keep quantities exact, never through a float', () => {
    expect(parseKubernetesQuantity('0.1')).toEqual({ numerator: 1n, denominator: 10n });
    expect(parseKubernetesQuantity('1.5Gi')).toEqual({ numerator: 15n * 2n ** 30n, denominator: 10n });
    // 2^60 + 1 bytes is not a double; the parser keeps it.
    expect(units('1152921504606846977')).toBe(2n ** 60n + 1n);
  });

  it.each(['', '-1', '-500m', 'abc', '1e', '1Ki2', '1.2.3', '1 Gi', '1KB', '1e999', 'm'])(
    'should refuse %j',
    (text) => {
      expect(() => parseKubernetesQuantity(text)).toThrow(RangeError);
    },
  );
});

describe('utcDay and overlapMs', () => {
  it('should make a day the half-open interval of its 86,400,000 ms', () => {
    expect(utcDay('2026-03-10')).toEqual(interval('2026-03-10T00:00:00Z', '2026-03-11T00:00:00Z'));
    expect(utcDay('2024-02-29').end - utcDay('2024-02-29').start).toBe(86_400_000n);
    // The last day of a year ends where the next one starts.
    expect(utcDay('2025-12-31').end).toBe(utcDay('2026-01-01').start);
  });

  it.each(['2026-02-29', '2026-02-30', '2026-13-01', '2026-3-1', '20260310', 'yesterday'])(
    'should refuse %j',
    (date) => {
      expect(() => utcDay(date)).toThrow(RangeError);
    },
  );

  const day = utcDay('2026-03-10');
  it.each([
    ['inside the day', '2026-03-10T10:00:00Z', '2026-03-10T10:25:00Z', 25n * 60_000n],
    ['across the start', '2026-03-09T23:30:00Z', '2026-03-10T00:30:00Z', 30n * 60_000n],
    ['across the end', '2026-03-10T23:00:00Z', '2026-03-11T02:00:00Z', 3_600_000n],
    ['over the whole day', '2026-03-01T00:00:00Z', '2026-04-01T00:00:00Z', 86_400_000n],
    ['ending at the start', '2026-03-09T20:00:00Z', '2026-03-10T00:00:00Z', 0n],
    ['starting at the end', '2026-03-11T00:00:00Z', '2026-03-11T05:00:00Z', 0n],
    ['before the day', '2026-03-08T00:00:00Z', '2026-03-09T00:00:00Z', 0n],
    ['empty (end before start)', '2026-03-10T12:00:00Z', '2026-03-10T11:00:00Z', 0n],
  ])('should count an interval %s', (_name, start, end, expected) => {
    expect(overlapMs(interval(start, end), day)).toBe(expected);
  });
});

describe('conversions', () => {
  it('should convert unit × ms totals once, half up to 9 decimals', () => {
    // 1 millicore for 1 ms is 1/3.6e9 CPU hours = 0.000000000277…, which rounds to 0.
    expect(quantityFromTotal(1n, 3_600_000_000n)).toBe('0');
    // 2 millicore-ms: 0.000000000555… rounds up to 0.000000001.
    expect(quantityFromTotal(2n, 3_600_000_000n)).toBe('0.000000001');
    // 500 millicores for 25 minutes: 0.208333333… CPU hours.
    expect(quantityFromTotal(500n * 25n * 60_000n, 3_600_000_000n)).toBe('0.208333333');
    // Half of the last place rounds up: 5 / 10^10.
    expect(quantityFromTotal(5n, 10n ** 10n)).toBe('0.000000001');
    expect(quantityFromTotal(0n, 7n)).toBe('0');
  });

  it('should give bytes as exact decimal GB (10^9 bytes)', () => {
    expect(bytesToGb(4_294_967_296n)).toBe('4.294967296');
    expect(bytesToGb(1n)).toBe('0.000000001');
    expect(bytesToGb(1_000_000_000n)).toBe('1');
  });

  it('should add quantities and merge daily usage exactly', () => {
    expect(addQuantities('0.1', '0.2')).toBe('0.3');
    expect(addQuantities()).toBe('0');
    expect(
      mergeDailyUsage(
        { cpu_hours: '1.5', storage_gb: '107.3741824' },
        { api_calls: '1200', storage_gb: '2.6' },
      ),
    ).toEqual({ cpu_hours: '1.5', storage_gb: '109.9741824', api_calls: '1200' });
  });
});
