import { describe, expect, it } from 'vitest';
import { reconcileInvoice, type InvoiceLineFact } from '../../src/domain/reconciliation.js';
import { METRICS, type Metric } from '../../src/domain/pricing.js';

const ledger = (cpuDollars: number): Record<Metric, bigint> => ({
  ...(Object.fromEntries(METRICS.map((metric) => [metric, 0n])) as Record<Metric, bigint>),
  cpu_hours: BigInt(cpuDollars) * 1_000_000n,
});
const line = (amountCents: number, lateUsage = false): InvoiceLineFact => ({
  metric: 'cpu_hours',
  amountCents,
  description: lateUsage ? 'Usage reported late: cpu hours' : 'CPU hours',
  lateUsage,
});

describe('reconcileInvoice', () => {
  it('should match an invoice that bills what the ledger holds', () => {
    expect(reconcileInvoice({ ledgerMicros: ledger(30), lines: [line(3_000)], draft: true })).toMatchObject({
      status: 'matched',
      adjustments: [],
      adjustedCents: 0n,
    });
  });

  it('should add the late day to a draft that misses it', () => {
    expect(reconcileInvoice({ ledgerMicros: ledger(30), lines: [line(2_900)], draft: true })).toMatchObject({
      status: 'adjusted',
      adjustments: [{ metric: 'cpu_hours', cents: 100n }],
      adjustedCents: 100n,
    });
  });

  it('should, retried after a crash that left its item on the draft, add nothing and still record what was added', () => {
    expect(
      reconcileInvoice({ ledgerMicros: ledger(30), lines: [line(2_900), line(100, true)], draft: true }),
    ).toMatchObject({ status: 'adjusted', adjustments: [], adjustedCents: 100n });
  });

  it('should flag an invoice billing more than the ledger, or a finalized one missing usage', () => {
    expect(reconcileInvoice({ ledgerMicros: ledger(30), lines: [line(3_100)], draft: true })).toMatchObject({
      status: 'mismatch',
      adjustedCents: 0n,
    });
    expect(reconcileInvoice({ ledgerMicros: ledger(30), lines: [line(2_900)], draft: false })).toMatchObject({
      status: 'mismatch',
      adjustments: [],
    });
  });
});
