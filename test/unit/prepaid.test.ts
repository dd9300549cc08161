import { describe, expect, it } from 'vitest';
import {
  balanceDepleted,
  grantRefusal,
  isNewerCrossing,
  type GrantRequest,
} from '../../src/domain/prepaid.js';

const NOW = Date.parse('2026-03-01T00:00:00Z');
const grant = (changes: Partial<GrantRequest> = {}): GrantRequest => ({
  actor: 'admin@example.test',
  reason: 'goodwill',
  idempotencyKey: 'grant-1',
  amountMicros: '5000000',
  expiresAt: null,
  ...changes,
});

describe('prepaid decisions', () => {
  it('should accept a well-formed grant', () => {
    expect(grantRefusal(grant(), false, NOW)).toBeNull();
    expect(grantRefusal(grant({ expiresAt: '2026-04-01T00:00:00Z' }), false, NOW)).toBeNull();
  });

  it('should refuse a grant naming the first field at fault', () => {
    const cases: [Partial<GrantRequest>, string, string][] = [
      [{ actor: ' ' }, 'actor', 'is required'],
      [{ reason: '' }, 'reason', 'is required'],
      [{ idempotencyKey: '' }, 'idempotencyKey', 'must have 1 to 255 characters'],
      [{ idempotencyKey: 'k'.repeat(256) }, 'idempotencyKey', 'must have 1 to 255 characters'],
      [{ amountMicros: '1.5' }, 'amount', 'must be an amount'],
      [{ amountMicros: '0' }, 'amount', 'must be greater than zero'],
      [{ amountMicros: '10000000001' }, 'amount', 'must be at most $10,000.00'],
      [{ amountMicros: '2000000', maxAmountMicros: '1000000' }, 'amount', 'must be at most $1.00'],
      [{ expiresAt: 'soon' }, 'expiresAt', 'must be an ISO 8601 instant'],
      [{ expiresAt: '2026-03-01T00:00:00Z' }, 'expiresAt', 'must be in the future'],
      [{ actor: '', amountMicros: '0' }, 'actor', 'is required'],
    ];
    for (const [changes, field, message] of cases) {
      expect(grantRefusal(grant(changes), false, NOW), JSON.stringify(changes)).toEqual({ field, message });
    }
    expect(grantRefusal(grant(), true, NOW)).toEqual({ field: 'id', message: 'the customer is canceled' });
  });

  it('should take only newer crossings with well-formed entry ids', () => {
    expect(isNewerCrossing('12', '11')).toBe(true);
    expect(isNewerCrossing('11', '11')).toBe(false);
    expect(isNewerCrossing('9', '10')).toBe(false);
    expect(isNewerCrossing('x1', '0')).toBe(false);
    expect(isNewerCrossing('1'.repeat(20), '0')).toBe(false);
  });

  it('should count a balance at or below zero as depleted', () => {
    expect(balanceDepleted('0')).toBe(true);
    expect(balanceDepleted('-1')).toBe(true);
    expect(balanceDepleted('1')).toBe(false);
  });
});
