import { describe, expect, it } from 'vitest';
import { lateUsageItems, reconcileInvoice, type InvoiceLineFact } from '../../src/domain/reconciliation.js';
import { METRICS, type Metric } from '../../src/domain/pricing.js';

/** Micro-dollars of CPU only. */
const cpu = (micros: bigint): Record<Metric, bigint> => ({
  ...(Object.fromEntries(METRICS.map((metric) => [metric, 0n])) as Record<Metric, bigint>),
  cpu_hours: micros,
});
const days = (count: number) => cpu(BigInt(count) * 1_000_000n); // CPU 1.00 USD a day
const line = (amountCents: number, lateUsage = false): InvoiceLineFact => ({
  metric: 'cpu_hours',
  amountCents,
  description: lateUsage ? 'Usage reported late: cpu hours' : 'CPU hours',
  lateUsage,
});

describe('lateUsageItems (before the held draft is finalized)', () => {
  it('should add nothing for a last day whose meter events reached Stripe after the draft was made', () => {
    // The draft was made with 29 days; the 30th was sent since and lands on it at finalization.
    expect(
      lateUsageItems({ ledgerMicros: days(30), meteredMicros: days(30), lines: [line(2_900)] }),
    ).toMatchObject({ status: 'ready', adjustments: [], note: null });
  });

  it('should add an item for a last day that never reached the meters', () => {
    expect(
      lateUsageItems({ ledgerMicros: days(30), meteredMicros: days(29), lines: [line(2_900)] }),
    ).toMatchObject({ status: 'ready', adjustments: [{ metric: 'cpu_hours', cents: 100n }] });
  });

  it('should, retried after a crash that left its item on the draft, add nothing more', () => {
    expect(
      lateUsageItems({
        ledgerMicros: days(30),
        meteredMicros: days(29),
        lines: [line(2_900), line(100, true)],
      }),
    ).toMatchObject({ status: 'ready', adjustments: [] });
  });

  it('should round the item so that the finalized lines equal the ledger rounded once', () => {
    // 1.005 USD in the ledger (101 cents), 1.00 USD at the meters (100 cents): one cent late.
    expect(
      lateUsageItems({ ledgerMicros: cpu(1_005_000n), meteredMicros: cpu(1_000_000n), lines: [line(100)] }),
    ).toMatchObject({ adjustments: [{ metric: 'cpu_hours', cents: 1n }] });
  });

  it('should hold a draft that bills more than was sent, or lines of no metric', () => {
    const more = lateUsageItems({ ledgerMicros: days(30), meteredMicros: days(30), lines: [line(3_100)] });
    expect(more).toMatchObject({ status: 'mismatch', adjustments: [] });
    expect(more.note).toContain('cpu_hours: ledger 3000 cents, invoice 3100 cents');
    const stray = lateUsageItems({
      ledgerMicros: days(30),
      meteredMicros: days(30),
      lines: [line(3_000), { metric: null, amountCents: 500, description: 'Setup fee', lateUsage: false }],
    });
    expect(stray).toMatchObject({ status: 'mismatch' });
    expect(stray.note).toContain('"Setup fee" of 500 cents bills no metric');
  });

  it('should hold a draft whose late-usage item is more than the meters now miss', () => {
    expect(
      lateUsageItems({
        ledgerMicros: days(30),
        meteredMicros: days(30),
        lines: [line(2_900), line(100, true)],
      }),
    ).toMatchObject({ status: 'mismatch', adjustments: [] });
  });
});

describe('reconcileInvoice (the finalized invoice)', () => {
  it('should match a finalized invoice whose meters billed every day', () => {
    expect(reconcileInvoice({ ledgerMicros: days(30), lines: [line(3_000)] })).toMatchObject({
      status: 'matched',
      adjustedCents: 0n,
    });
  });

  it('should count the late usage on it, whichever run of the close added it', () => {
    expect(reconcileInvoice({ ledgerMicros: days(30), lines: [line(2_900), line(100, true)] })).toMatchObject(
      { status: 'adjusted', adjustedCents: 100n, note: null },
    );
  });

  it('should flag a day billed twice, or missing', () => {
    const twice = reconcileInvoice({ ledgerMicros: days(30), lines: [line(3_000), line(100, true)] });
    expect(twice).toMatchObject({ status: 'mismatch', adjustedCents: 100n });
    expect(twice.note).toBe('cpu_hours: ledger 3000 cents, invoice 3100 cents');
    expect(reconcileInvoice({ ledgerMicros: days(30), lines: [line(2_900)] })).toMatchObject({
      status: 'mismatch',
    });
  });
});

describe('plan fee lines', () => {
  const fee = (amountCents: number, expectedCents: number | null): InvoiceLineFact => ({
    metric: null,
    amountCents,
    description: 'Pro plan',
    lateUsage: false,
    planFee: { expectedCents },
  });

  it('should leave a base fee billed at the plan price out of the usage comparison', () => {
    expect(
      reconcileInvoice({ ledgerMicros: days(30), lines: [line(3_000), fee(9_900, 9_900)] }),
    ).toMatchObject({
      status: 'matched',
      note: null,
    });
    expect(
      lateUsageItems({
        ledgerMicros: days(30),
        meteredMicros: days(30),
        lines: [line(3_000), fee(9_900, 9_900)],
      }),
    ).toMatchObject({ status: 'ready', adjustments: [] });
  });

  it("should accept Stripe's proration of a fee as it is", () => {
    expect(reconcileInvoice({ ledgerMicros: days(30), lines: [line(3_000), fee(-1_935, null)] }).status).toBe(
      'matched',
    );
  });

  it('should flag a fee line that is not the plan fee', () => {
    expect(
      reconcileInvoice({ ledgerMicros: days(30), lines: [line(3_000), fee(9_000, 9_900)] }),
    ).toMatchObject({
      status: 'mismatch',
      note: expect.stringContaining("the plan's fee is 9900 cents"),
    });
  });
});
