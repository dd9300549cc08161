import { describe, expect, it } from 'vitest';
import {
  centsToMicros,
  dollarsToMicros,
  formatUsd,
  microsFromJson,
  microsToCents,
  microsToJson,
} from '../../src/domain/money.js';

describe('money', () => {
  it('should parse the seed prices exactly', () => {
    expect(dollarsToMicros('0.10')).toBe(100_000n);
    expect(dollarsToMicros('2.00')).toBe(2_000_000n);
    expect(dollarsToMicros('0.15')).toBe(150_000n);
    expect(dollarsToMicros('0.00001')).toBe(10n); // one API call at $0.01 per 1,000
    expect(dollarsToMicros('25')).toBe(25_000_000n);
    expect(dollarsToMicros('-1.5')).toBe(-1_500_000n);
  });

  it('should refuse amounts it cannot represent exactly', () => {
    for (const bad of ['0.0000001', '1e3', 'abc', '', '1.', '.5', '1,000']) {
      expect(() => dollarsToMicros(bad)).toThrow(RangeError);
    }
  });

  it('should add without the floating-point drift of 0.1 + 0.2', () => {
    expect(dollarsToMicros('0.1') + dollarsToMicros('0.2')).toBe(dollarsToMicros('0.3'));
  });

  it('should convert cents exactly and round micros to cents half away from zero', () => {
    expect(centsToMicros(1999)).toBe(19_990_000n);
    expect(() => centsToMicros(0.5)).toThrow(RangeError);
    expect(microsToCents(4_999n)).toBe(0n);
    expect(microsToCents(5_000n)).toBe(1n);
    expect(microsToCents(-5_000n)).toBe(-1n);
    expect(microsToCents(19_994_999n)).toBe(1999n);
  });

  it('should format for people and round-trip through JSON as strings', () => {
    expect(formatUsd(1_234_567_890n)).toBe('$1,234.57');
    expect(formatUsd(-50_000n)).toBe('-$0.05');
    expect(microsFromJson(microsToJson(9_007_199_254_740_993n))).toBe(9_007_199_254_740_993n);
    expect(() => microsFromJson('1.5')).toThrow(RangeError);
  });
});
