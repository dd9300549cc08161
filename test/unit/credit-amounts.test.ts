import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { dollarsToMicros, microsToDollars } from '../../src/domain/money.js';

describe('credit amounts', () => {
  it('should write micro-dollars as exact decimal dollars and read them back', () => {
    expect(microsToDollars(0n)).toBe('0');
    expect(microsToDollars(25_000_000n)).toBe('25');
    expect(microsToDollars(12_340_000n)).toBe('12.34');
    expect(microsToDollars(1n)).toBe('0.000001');
    expect(microsToDollars(-1_500_000n)).toBe('-1.5');
    for (const micros of [0n, 1n, 999_999n, 1_000_001n, -7n, 123_456_789_012n]) {
      expect(dollarsToMicros(microsToDollars(micros))).toBe(micros);
    }
  });

  it('should default the grant maximum to 10,000 USD, the purchase range to 5..10,000 USD and the low-balance threshold to 10 USD', () => {
    expect(loadConfig({}, 'dev').credits).toEqual({
      maxGrantMicros: '10000000000',
      minPurchaseMicros: '5000000',
      maxPurchaseMicros: '10000000000',
      lowBalanceThresholdMicros: '10000000',
    });
    expect(loadConfig({ CREDIT_GRANT_MAX_USD: '250.50' }, 'dev').credits.maxGrantMicros).toBe('250500000');
    expect(loadConfig({ LOW_BALANCE_THRESHOLD_USD: '2.5' }, 'dev').credits.lowBalanceThresholdMicros).toBe(
      '2500000',
    );
  });

  it('should refuse limits that are not positive USD amounts, or a minimum above the maximum', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env, 'dev');
        return [];
      } catch (error) {
        return (error as ConfigError).problems.map((problem) => problem.field);
      }
    };
    expect(problems({ CREDIT_GRANT_MAX_USD: '0' })).toEqual(['CREDIT_GRANT_MAX_USD']);
    expect(problems({ CREDIT_GRANT_MAX_USD: '-5' })).toEqual(['CREDIT_GRANT_MAX_USD']);
    expect(problems({ CREDIT_PURCHASE_MIN_USD: '100', CREDIT_PURCHASE_MAX_USD: '50' })).toEqual([
      'CREDIT_PURCHASE_MIN_USD',
    ]);
  });
});
