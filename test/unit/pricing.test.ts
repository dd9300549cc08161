import { describe, expect, it } from 'vitest';
import {
  daysInMonth,
  divideRoundHalfUp,
  effectiveOverride,
  formatQuantity,
  METRICS,
  parseQuantity,
  priceDay,
  type DailyUsage,
  type Metric,
  type Price,
  type PricingOverride,
} from '../../src/domain/pricing.js';

// The seed's price book, as migrations/001_initial_schema.sql inserts it.
const SEED_PRICES: Price[] = [
  { metric: 'cpu_hours', unitPriceMicros: 100_000n, unitQuantity: 1n },
  { metric: 'gpu_hours', unitPriceMicros: 2_000_000n, unitQuantity: 1n },
  { metric: 'memory_gb_hours', unitPriceMicros: 0n, unitQuantity: 1n },
  { metric: 'storage_gb_month', unitPriceMicros: 150_000n, unitQuantity: 1n },
  { metric: 'api_calls', unitPriceMicros: 10_000n, unitQuantity: 1000n },
];

function price(date: string, usage: DailyUsage, overrides: PricingOverride[] = [], prices = SEED_PRICES) {
  return priceDay({ date, usage, prices, overrides });
}

function cpuCost(date: string, hours: string, overrides: PricingOverride[]): bigint {
  return price(date, { cpu_hours: hours }, overrides).metrics.cpu_hours.costMicros;
}

const override = (fields: Partial<PricingOverride>): PricingOverride => ({
  metric: 'cpu_hours',
  validFrom: '2024-01-01T00:00:00Z',
  validUntil: null,
  reason: 'test',
  ...fields,
});

describe('priceDay with the seed price book', () => {
  it('should price each metric at the book price', () => {
    const day = price('2024-06-15', {
      cpu_hours: '1.5',
      gpu_hours: '3.25',
      memory_gb_hours: '1000',
      api_calls: '2500',
    });
    expect(day.metrics.cpu_hours.costMicros).toBe(150_000n);
    expect(day.metrics.gpu_hours.costMicros).toBe(6_500_000n);
    expect(day.metrics.memory_gb_hours.costMicros).toBe(0n);
    expect(day.metrics.api_calls).toMatchObject({
      quantity: '2500',
      unitPriceMicros: 10_000n,
      unitQuantity: 1000n,
      discountBasisPoints: 0,
      override: null,
      costMicros: 25_000n,
    });
    expect(day.totalMicros).toBe(150_000n + 6_500_000n + 25_000n);
  });

  it('should price zero usage at zero, whether absent or written as zero', () => {
    for (const usage of [{}, { cpu_hours: '0', storage_gb: '0.000', api_calls: '0' }] as DailyUsage[]) {
      const day = price('2024-06-15', usage);
      expect(day.totalMicros).toBe(0n);
      for (const metric of METRICS) {
        expect(day.metrics[metric]).toMatchObject({ quantity: '0', costMicros: 0n });
      }
    }
  });
});

describe('storage as the day’s share of its month', () => {
  it.each([
    // date, days in month, GB-months stored (9 decimals, half up), cost in micros
    ['2024-06-15', 30, '3.333333333', 500_000n], // 100 GB × $0.15 / 30 = $0.50
    ['2024-01-31', 31, '3.225806452', 483_871n], // 15,000,000 / 31 = 483,870.97
    ['2023-02-10', 28, '3.571428571', 535_714n], // 15,000,000 / 28 = 535,714.29
    ['2024-02-29', 29, '3.448275862', 517_241n], // 15,000,000 / 29 = 517,241.38
  ])('should bill 100 GB on %s as 1/%i of a GB-month', (date, _days, quantity, cost) => {
    const storage = price(date, { storage_gb: '100' }).metrics.storage_gb_month;
    expect(storage).toMatchObject({ measured: '100', quantity, costMicros: cost });
  });

  it('should bill a whole month held at 100 GB as 100 GB-months, up to half a micro a day', () => {
    for (const [year, month] of [
      [2024, 1],
      [2023, 2],
      [2024, 2],
      [2024, 6],
    ] as const) {
      const days = daysInMonth(year, month);
      let total = 0n;
      for (let day = 1; day <= days; day++) {
        const date = `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
        total += price(date, { storage_gb: '100' }).totalMicros;
      }
      const drift = total - 15_000_000n;
      expect(2n * (drift < 0n ? -drift : drift)).toBeLessThanOrEqual(BigInt(days));
    }
  });

  it('should know the leap years of the Gregorian calendar', () => {
    expect([2023, 2024, 1900, 2000].map((year) => daysInMonth(year, 2))).toEqual([28, 29, 28, 29]);
    expect([1, 3, 4, 7, 8, 9, 12].map((month) => daysInMonth(2024, month))).toEqual([
      31, 31, 30, 31, 31, 30, 31,
    ]);
    expect(() => price('2023-02-29', {})).toThrow(RangeError);
  });
});

describe('overrides and discounts', () => {
  it('should replace the book price with the override price', () => {
    const day = price('2024-06-15', { cpu_hours: '1.5' }, [override({ overrideUnitPriceMicros: 50_000n })]);
    expect(day.metrics.cpu_hours).toMatchObject({ unitPriceMicros: 50_000n, costMicros: 75_000n });
    expect(day.metrics.gpu_hours.unitPriceMicros).toBe(2_000_000n); // other metrics keep the book
  });

  it('should apply 50 % and 12.5 % discounts to the cost', () => {
    expect(cpuCost('2024-06-15', '1.5', [override({ discountBasisPoints: 5000 })])).toBe(75_000n);
    expect(cpuCost('2024-06-15', '1.5', [override({ discountBasisPoints: 1250 })])).toBe(131_250n);
    expect(cpuCost('2024-06-15', '1.5', [override({ discountBasisPoints: 10_000 })])).toBe(0n);
    const oneCall = price('2024-06-15', { api_calls: '1' }, [
      override({ metric: 'api_calls', discountBasisPoints: 1250 }),
    ]);
    expect(oneCall.metrics.api_calls).toMatchObject({ discountBasisPoints: 1250, costMicros: 9n }); // 8.75
  });

  it('should discount the override price, as the seed’s "$0.05 and 50 %" example means', () => {
    const seedExample = override({ overrideUnitPriceMicros: 50_000n, discountBasisPoints: 5000 });
    expect(cpuCost('2024-06-15', '1.5', [seedExample])).toBe(37_500n);
  });

  it('should apply an override from the start of its first day to before its end', () => {
    const march = [
      override({
        overrideUnitPriceMicros: 50_000n,
        validFrom: '2024-03-01T00:00:00Z',
        validUntil: '2024-04-01T00:00:00Z',
      }),
    ];
    expect(cpuCost('2024-02-29', '1', march)).toBe(100_000n); // before
    expect(cpuCost('2024-03-01', '1', march)).toBe(50_000n); // first day, starting at its 00:00
    expect(cpuCost('2024-03-31', '1', march)).toBe(50_000n); // inside
    expect(cpuCost('2024-04-01', '1', march)).toBe(100_000n); // at the end boundary: excluded
    expect(cpuCost('2024-05-01', '1', march)).toBe(100_000n); // after
  });

  it('should start an override created during a day with the next day, whatever the offset', () => {
    const from = (validFrom: string) => [override({ overrideUnitPriceMicros: 50_000n, validFrom })];
    expect(cpuCost('2024-03-01', '1', from('2024-03-01T14:00:00Z'))).toBe(100_000n);
    expect(cpuCost('2024-03-02', '1', from('2024-03-01T14:00:00Z'))).toBe(50_000n);
    expect(cpuCost('2024-03-01', '1', from('2024-03-01 01:00:00+01:00'))).toBe(50_000n); // = 00:00Z
    expect(cpuCost('2024-03-01', '1', from('2024-03-01T00:00:00-01:00'))).toBe(100_000n); // = 01:00Z
    expect(cpuCost('2024-03-01', '1', from('2024-02-29T23:59:59.999999+00'))).toBe(50_000n);
    expect(cpuCost('2024-03-01', '1', from('2024-03-01'))).toBe(50_000n);
    expect(cpuCost('2099-12-31', '1', from('2024-03-01'))).toBe(50_000n); // open-ended
  });

  it('should let the override with the latest validFrom win, entirely', () => {
    const older = override({ overrideUnitPriceMicros: 50_000n, validFrom: '2024-01-01T00:00:00Z' });
    const newer = override({ discountBasisPoints: 2000, validFrom: '2024-02-01T00:00:00Z' });
    const ended = override({
      overrideUnitPriceMicros: 1n,
      validFrom: '2024-02-10T00:00:00Z',
      validUntil: '2024-02-20T00:00:00Z',
    });
    const other = override({ metric: 'gpu_hours', overrideUnitPriceMicros: 1n, validFrom: '2024-02-25' });
    for (const overrides of [
      [older, newer, ended, other],
      [other, ended, newer, older],
    ]) {
      expect(cpuCost('2024-01-15', '1.5', overrides)).toBe(75_000n); // only the older one
      // The newer one has no price: the book price, not the older override's, with its discount.
      expect(cpuCost('2024-03-01', '1.5', overrides)).toBe(120_000n);
      expect(effectiveOverride(overrides, 'cpu_hours', '2024-03-01')).toBe(newer);
      expect(effectiveOverride(overrides, 'cpu_hours', '2024-02-15')).toBe(ended);
      expect(effectiveOverride(overrides, 'memory_gb_hours', '2024-03-01')).toBeNull();
    }
  });

  it('should break a tie on validFrom by input order, the later row winning', () => {
    const first = override({ overrideUnitPriceMicros: 10_000n });
    const second = override({ overrideUnitPriceMicros: 20_000n });
    expect(cpuCost('2024-06-15', '1', [first, second])).toBe(20_000n);
    expect(cpuCost('2024-06-15', '1', [second, first])).toBe(10_000n);
  });
});

describe('rounding', () => {
  it('should round half up, once, to whole micros', () => {
    expect(cpuCost('2024-06-15', '0.000004', [])).toBe(0n); // 0.4 micro
    expect(cpuCost('2024-06-15', '0.000005', [])).toBe(1n); // exactly 0.5 micro
    expect(cpuCost('2024-06-15', '0.000004999', [])).toBe(0n); // 0.4999
    expect(cpuCost('2024-06-15', '0.000025', [])).toBe(3n); // 2.5: half up, not to even
    const perMillionCalls = [override({ metric: 'api_calls', overrideUnitPriceMicros: 1n })]; // 1 micro / 1,000
    const apiCost = (calls: string) => price('2024-06-15', { api_calls: calls }, perMillionCalls).totalMicros;
    expect([apiCost('499'), apiCost('500'), apiCost('1499'), apiCost('1500')]).toEqual([0n, 1n, 1n, 2n]);
  });

  it('should discount the exact cost, not a rounded one', () => {
    // 0.7 micro at 50 % is 0.35 → 0; rounding first would give 1 × 50 % = 0.5 → 1.
    expect(cpuCost('2024-06-15', '0.000007', [override({ discountBasisPoints: 5000 })])).toBe(0n);
  });

  it('should divide rounding half up', () => {
    expect([divideRoundHalfUp(4n, 10n), divideRoundHalfUp(5n, 10n), divideRoundHalfUp(0n, 3n)]).toEqual([
      0n,
      1n,
      0n,
    ]);
    expect(() => divideRoundHalfUp(-1n, 2n)).toThrow(RangeError);
  });
});

describe('quantities', () => {
  it('should parse and print exact decimals in nano-units', () => {
    expect(parseQuantity('1.5')).toBe(1_500_000_000n);
    expect(parseQuantity('0.000000001')).toBe(1n);
    expect(parseQuantity('2500')).toBe(2_500_000_000_000n);
    expect(parseQuantity('007.100000000')).toBe(7_100_000_000n);
    expect(parseQuantity('999999999999999.999999999')).toBe(10n ** 24n - 1n);
    expect(formatQuantity(1_500_000_000n)).toBe('1.5');
    expect(formatQuantity(0n)).toBe('0');
    expect(formatQuantity(1n)).toBe('0.000000001');
    expect(formatQuantity(2_500_000_000_000n)).toBe('2500');
    expect(() => formatQuantity(-1n)).toThrow(RangeError);
    expect(() => formatQuantity(10n ** 24n)).toThrow(RangeError);
  });

  it('should refuse negatives, exponents, more than 9 decimals and anything not a decimal', () => {
    for (const bad of [
      '-1',
      '-0',
      '1e3',
      '1E-3',
      '0.0000000001',
      'abc',
      '',
      '1.',
      '.5',
      ' 1',
      '1 ',
      '+1',
      '1,000',
      'NaN',
      'Infinity',
      '0x10',
      '1000000000000000', // 16 digits: does not fit numeric(24, 9)
    ]) {
      expect(() => parseQuantity(bad), bad).toThrow(RangeError);
    }
    expect(() => parseQuantity(1.5 as unknown as string)).toThrow(RangeError);
  });

  it('should refuse bad usage, prices and overrides in priceDay', () => {
    const bad: Array<[string, () => unknown]> = [
      ['fractional API calls', () => price('2024-06-15', { api_calls: '1.5' })],
      ['negative usage', () => price('2024-06-15', { cpu_hours: '-1' })],
      ['GB-months given as usage', () => price('2024-06-15', { storage_gb_month: '1' } as DailyUsage)],
      ['prototype key', () => price('2024-06-15', JSON.parse('{"toString":"1"}') as DailyUsage)],
      ['bad date', () => price('2024-13-01', {})],
      ['date with time', () => price('2024-06-15T00:00:00Z', {})],
      ['missing price', () => price('2024-06-15', {}, [], SEED_PRICES.slice(1))],
      ['duplicate price', () => price('2024-06-15', {}, [], [...SEED_PRICES, SEED_PRICES[0] as Price])],
      [
        'credits in the book',
        () =>
          price(
            '2024-06-15',
            {},
            [],
            [...SEED_PRICES, { metric: 'credits' as Metric, unitPriceMicros: 1n, unitQuantity: 1n }],
          ),
      ],
      [
        'zero unit quantity',
        () =>
          price('2024-06-15', {}, [], [{ ...SEED_PRICES[0]!, unitQuantity: 0n }, ...SEED_PRICES.slice(1)]),
      ],
      ['empty override', () => price('2024-06-15', {}, [override({})])],
      ['discount above 100 %', () => price('2024-06-15', {}, [override({ discountBasisPoints: 10_001 })])],
      ['fractional basis points', () => price('2024-06-15', {}, [override({ discountBasisPoints: 12.5 })])],
      [
        'negative override price',
        () => price('2024-06-15', {}, [override({ overrideUnitPriceMicros: -1n })]),
      ],
      [
        'window ending before it starts',
        () =>
          price('2024-06-15', {}, [override({ discountBasisPoints: 1, validUntil: '2023-01-01T00:00:00Z' })]),
      ],
      [
        'instant without offset',
        () =>
          price('2024-06-15', {}, [override({ discountBasisPoints: 1, validFrom: '2024-03-01T00:00:00' })]),
      ],
      [
        'no such hour',
        () =>
          price('2024-06-15', {}, [override({ discountBasisPoints: 1, validFrom: '2024-03-01T24:00:00Z' })]),
      ],
    ];
    for (const [name, call] of bad) expect(call, name).toThrow(RangeError);
  });
});

describe('properties over seeded random days', () => {
  // mulberry32: a tiny seeded PRNG, so a failure reproduces exactly.
  function prng(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
  }
  const random = prng(20_240_615);
  const int = (below: number) => Math.floor(random() * below);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  const nanos = () =>
    BigInt(int(10 ** pick([1, 3, 6, 9]))) * 10n ** BigInt(int(10)) + BigInt(int(1_000_000_000));

  it('should keep total = Σ parts, each part within half a micro of exact, and cost monotonic', () => {
    for (let run = 0; run < 2_000; run++) {
      const date = `${2000 + int(40)}-${String(1 + int(12)).padStart(2, '0')}-${String(1 + int(28)).padStart(2, '0')}`;
      const prices: Price[] = METRICS.map((metric) => ({
        metric,
        unitPriceMicros: BigInt(int(5_000_000)),
        unitQuantity: pick([1n, 1000n, 1_000_000n]),
      }));
      const overrides: PricingOverride[] = METRICS.filter(() => random() < 0.5).map((metric) => ({
        metric,
        overrideUnitPriceMicros: random() < 0.5 ? BigInt(int(5_000_000)) : null,
        discountBasisPoints: int(10_001),
        validFrom: '2000-01-01T00:00:00Z',
        reason: 'random',
      }));
      const usage: DailyUsage = {
        cpu_hours: formatQuantity(nanos()),
        gpu_hours: formatQuantity(nanos()),
        memory_gb_hours: formatQuantity(nanos()),
        storage_gb: formatQuantity(nanos()),
        api_calls: formatQuantity((nanos() / 1_000_000_000n) * 1_000_000_000n),
      };
      const day = priceDay({ date, usage, prices, overrides });

      let sum = 0n;
      for (const metric of METRICS) {
        const line = day.metrics[metric];
        sum += line.costMicros;
        const quantity = parseQuantity(line.quantity);
        expect(formatQuantity(quantity)).toBe(line.quantity);
        // The row re-prices from its own columns: (2·cost − 1)·den ≤ 2·exact·den < (2·cost + 1)·den.
        const numerator = quantity * line.unitPriceMicros * (10_000n - BigInt(line.discountBasisPoints));
        const denominator = 1_000_000_000n * line.unitQuantity * 10_000n;
        expect((2n * line.costMicros - 1n) * denominator <= 2n * numerator).toBe(true);
        expect(2n * numerator < (2n * line.costMicros + 1n) * denominator).toBe(true);
      }
      expect(day.totalMicros).toBe(sum);
      const [year, month] = date.split('-').map(Number) as [number, number];
      const days = BigInt(daysInMonth(year, month));
      const gbMonths = parseQuantity(day.metrics.storage_gb_month.quantity);
      const measuredGb = parseQuantity(day.metrics.storage_gb_month.measured);
      const error = gbMonths * days - measuredGb;
      expect(2n * (error < 0n ? -error : error) <= days).toBe(true);

      // More of any one metric never costs less, for it or in total.
      const metric = pick(Object.keys(usage) as Array<keyof DailyUsage>);
      const more = parseQuantity(usage[metric] ?? '0') + (metric === 'api_calls' ? 1_000_000_000n : nanos());
      const bigger = priceDay({
        date,
        usage: { ...usage, [metric]: formatQuantity(more) },
        prices,
        overrides,
      });
      const billed: Metric = metric === 'storage_gb' ? 'storage_gb_month' : metric;
      expect(bigger.metrics[billed].costMicros >= day.metrics[billed].costMicros).toBe(true);
      expect(bigger.totalMicros >= day.totalMicros).toBe(true);
    }
  });
});
