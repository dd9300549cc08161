import type { CustomerState } from '../../src/domain/customer.js';

/**
 * Scripted customer lifecycles for tests that run many customers through the real stack: which steps a
 * customer takes depends only on its index, so two customers with the same index (a clean twin and a
 * chaos twin) live the same life, and their final states can be compared once run-specific ids and
 * instants are taken out.
 */
export const LIFECYCLE_SCRIPTS = [
  /** Signup, payment setup, an active subscription: nothing more. */
  'setup',
  /** An invoice created, then collected at the first attempt. */
  'invoice_paid',
  /** The first attempt declines (a grace period opens), the second one pays (it closes). */
  'grace_recovered',
  /** Credits bought through a payment-mode Checkout session. */
  'credits',
  /** A second card attached, then the card from the setup detached. */
  'card_swap',
  /** The attempt declines and nothing follows: the grace period stays open. */
  'grace_open',
  /** Suspended by an admin, then an invoice paid while suspended. */
  'admin_suspended',
  /**
   * Credits (the purchase's Checkout saves its card: a second visa), a mastercard kept beside them, an
   * invoice paid.
   */
  'mixed',
] as const;
export type LifecycleScript = (typeof LIFECYCLE_SCRIPTS)[number];

export function lifecycleScript(index: number): LifecycleScript {
  return LIFECYCLE_SCRIPTS[index % LIFECYCLE_SCRIPTS.length]!;
}

/** Amount of the script's invoice in cents: differs between customers, equal between twins. */
export function invoiceAmountCents(index: number): number {
  return 1_000 + index;
}

/** What a clean, in-order delivery of the script ends in (the clean arm is checked against it). */
export function expectedOutcome(index: number): Partial<Record<string, unknown>> {
  const script = lifecycleScript(index);
  // Stripe's first invoice of the all-metered subscription: $0, paid as it is made.
  const first = expectedInvoice('paid', 0, 0);
  const invoice = (status: string) => [
    first,
    expectedInvoice(status, invoiceAmountCents(index), status === 'paid' ? invoiceAmountCents(index) : 0),
  ];
  switch (script) {
    case 'setup':
      return { status: 'active', grace: null, invoices: [first], paymentMethods: ['pm:visa'] };
    case 'invoice_paid':
      return { status: 'active', grace: null, invoices: invoice('paid') };
    case 'grace_recovered':
      return { status: 'active', grace: null, invoices: invoice('paid') };
    case 'credits':
      return { status: 'active', creditBalance: { micros: '25000000', at: 't' } };
    case 'card_swap':
      return { status: 'active', paymentMethods: ['pm:mastercard'], paymentMethodMissing: false };
    case 'grace_open':
      return { status: 'past_due', invoices: invoice('open') };
    case 'admin_suspended':
      return { status: 'suspended', invoices: invoice('paid') };
    case 'mixed':
      return {
        status: 'active',
        // The setup's card, the card the credit purchase saved (setup_future_usage), the mastercard.
        paymentMethods: ['pm:visa', 'pm:visa', 'pm:mastercard'],
        creditBalance: { micros: '12500000', at: 't' },
        invoices: invoice('paid'),
      };
  }
}

function expectedInvoice(status: string, due: number, paid: number) {
  return {
    id: `in:${due}`,
    status,
    amountDueCents: due,
    amountPaidCents: paid,
    periodStart: 't',
    periodEnd: 't',
    updatedAt: 't',
  };
}

/** A small seeded PRNG (mulberry32): the same seed, the same chaos, so a failing order replays. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [copy[index], copy[other]] = [copy[other]!, copy[index]!];
  }
  return copy;
}

const INSTANT_KEYS = new Set([
  'updatedAt',
  'periodStart',
  'periodEnd',
  'currentPeriodStart',
  'currentPeriodEnd',
  'start',
  'end',
]);
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

export interface Naming {
  /** The run's customer id and what is specific to the arm (`chaos-`, `clean-` in subjects and emails). */
  customerId: string;
  armPrefix: string;
  /** A Stripe id's role (`sub`, `pm:visa`, `in:1234`, `evt:invoice.paid`), the same for both twins. */
  stripeName: (id: string) => string | undefined;
}

/**
 * A customer's state with everything that differs between two runs of the same script replaced:
 * Stripe ids by their role, instants by `t`, the customer's own ids by placeholders, the seen event
 * ids by the sorted list of their types (the order of arrival is the chaos itself).
 */
export function normalizeState(state: CustomerState, naming: Naming): Record<string, unknown> {
  const name = (value: string): string => {
    if (value === naming.customerId) return 'customer';
    if (ISO_INSTANT.test(value)) return 't';
    const stripe = naming.stripeName(value);
    if (stripe) return stripe;
    return value.split(naming.armPrefix).join('arm-');
  };
  const walk = (value: unknown, key: string | undefined, parent: string | undefined): unknown => {
    if (typeof value === 'string') return name(value);
    if (typeof value === 'number' && key !== undefined && INSTANT_KEYS.has(key)) return 't';
    if (typeof value === 'number' && parent === 'paymentMethodEventAt') return 't';
    if (Array.isArray(value)) return value.map((item) => walk(item, undefined, key));
    if (value && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value as Record<string, unknown>).map(([field, inner]) => [
          key === 'paymentMethodEventAt' ? name(field) : field,
          walk(inner, field, key),
        ]),
      );
    }
    return value;
  };
  const { seenEventIds, hopsworks, ...rest } = state;
  return {
    ...(walk(rest, undefined, undefined) as Record<string, unknown>),
    hopsworks: hopsworks
      ? { userId: 'set', username: 'set', projectId: hopsworks.projectId ? 'set' : null }
      : null,
    seenEvents: seenEventIds.map((id) => naming.stripeName(id) ?? 'evt:?').sort(),
  };
}

/** Runs `work` over `items` with at most `concurrency` at a time; answers in the items' order. */
export async function mapLimited<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < items.length; index = next++)
      results[index] = await work(items[index]!, index);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return results;
}
