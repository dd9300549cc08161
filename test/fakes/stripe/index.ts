import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import {
  automaticRequest,
  clone,
  StripeStore,
  type CompleteCheckoutOptions,
  type InvoiceInput,
  type InvoicePaymentAttempt,
  type MeterEventSessionRecord,
} from './store.js';
import { completeAuthentication } from './authentication.js';
import { MeterErrorReporter, type MeterErrorOptions } from './meter-errors.js';
import {
  ApiServer,
  type FailureRule,
  type FaultRate,
  type RateLimit,
  type RequestLogEntry,
} from './server.js';
import {
  WebhookDeliverer,
  type DeliveryOptions,
  type DeliveryRecord,
  type FlushOptions,
  type RetryOptions,
} from './webhooks.js';
import type {
  CheckoutSessionObject,
  CustomerObject,
  InvoiceItemObject,
  SubscriptionScheduleObject,
  InvoiceObject,
  MeterEventObject,
  MeterObject,
  PaymentIntentObject,
  PaymentMethodObject,
  PriceObject,
  StripeEvent,
  SubscriptionObject,
  SubscriptionStatus,
} from './objects.js';

export { signStripePayload } from './signature.js';
export type {
  CompleteCheckoutOptions,
  InvoiceInput,
  InvoiceLineInput,
  InvoicePaymentAttempt,
  MeterEventSessionRecord,
} from './store.js';
export type { FailureRule, FaultRate, RateLimit, RequestLogEntry } from './server.js';
export type { DeliveryOptions, DeliveryRecord, FlushOptions, RetryOptions } from './webhooks.js';
export type { MeterErrorDelivery, MeterErrorDestination, MeterErrorOptions } from './meter-errors.js';
export type * from './objects.js';

export interface FakeStripeOptions {
  webhookUrl?: string;
  webhookSecret: string;
  livemode?: boolean;
  // 0 (the default) picks a free port; the fake binds 127.0.0.1 only.
  port?: number;
  // Milliseconds since the epoch; `created`, periods and webhook signatures all read it.
  clock?: () => number;
  // Seeds the PRNG behind shuffled deliveries, so a failing order can be replayed.
  seed?: number;
  retry?: Partial<RetryOptions>;
  delivery?: Partial<DeliveryOptions>;
  // What events report as api_version; defaults to the installed SDK's pinned version.
  apiVersion?: string;
  // Stripe's request rate limiter (429 beyond it); none by default. See `setRateLimit`.
  rateLimit?: RateLimit;
  // Asynchronous meter event validation and its event destination (meter-errors.ts).
  meterErrors?: MeterErrorOptions;
  // The v2 meter event stream's own limiter (Stripe: 10,000 requests/s in live mode); unset, stream
  // requests count toward `rateLimit` (as in test mode). See `setStreamRateLimit`.
  streamRateLimit?: RateLimit;
  // How long a meter event session's token is valid (Stripe: 15 minutes). See `setMeterEventSessionTtl`.
  meterEventSessionTtlMs?: number;
}

const host = '127.0.0.1';

export class FakeStripe {
  readonly host = host;
  private readonly store: StripeStore;
  private readonly api: ApiServer;
  private readonly deliverer: WebhookDeliverer;
  private webhookTarget: string | undefined;
  private boundPort = 0;
  // Meter events Stripe refuses after accepting them, reported to an event destination (meter-errors.ts).
  readonly meterErrors: MeterErrorReporter;

  constructor(options: FakeStripeOptions) {
    const clock = options.clock ?? Date.now;
    const livemode = options.livemode ?? false;
    const apiVersion = options.apiVersion ?? Stripe.API_VERSION;
    this.webhookTarget = options.webhookUrl;
    this.deliverer = new WebhookDeliverer({
      secret: options.webhookSecret,
      clock,
      seed: options.seed ?? 0x5eed,
      retry: { attempts: 3, delayMs: 50, timeoutMs: 5_000, ...options.retry },
      url: () => this.webhookTarget,
    });
    if (options.delivery) this.deliverer.setDelivery(options.delivery);
    this.store = new StripeStore({
      livemode,
      clock,
      apiVersion,
      baseUrl: () => this.url,
      pendingWebhooks: () => (this.webhookTarget ? 1 : 0),
      onEvent: (event) => this.deliverer.enqueue(event),
    });
    this.api = new ApiServer({
      store: this.store,
      livemode,
      apiVersion,
      baseUrl: () => this.url,
      completeCheckout: (sessionId) => this.store.completeCheckoutSession(sessionId),
    });
    if (options.rateLimit) this.api.setRateLimit(options.rateLimit);
    if (options.streamRateLimit) this.api.setStreamRateLimit(options.streamRateLimit);
    if (options.meterEventSessionTtlMs !== undefined) {
      this.setMeterEventSessionTtl(options.meterEventSessionTtlMs);
    }
    this.meterErrors = new MeterErrorReporter(this.store, options.meterErrors);
  }

  async listen(port: number): Promise<void> {
    const server = this.api.server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (server.address() as AddressInfo).port;
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `http://${host}:${this.boundPort}`;
  }

  // A Stripe SDK client aimed at this fake, without SDK retries so tests see every failure.
  client(apiKey = 'sk_test_fake'): Stripe {
    return new Stripe(apiKey, { host, port: this.boundPort, protocol: 'http', maxNetworkRetries: 0 });
  }

  get webhookUrl(): string | undefined {
    return this.webhookTarget;
  }

  // Events raised while no URL is set are stored but never delivered (redeliver() still can).
  setWebhookUrl(url: string | undefined): void {
    this.webhookTarget = url;
  }

  // --- what tests assert on (live views; do not mutate) ---

  get events(): readonly StripeEvent[] {
    return this.store.events;
  }

  get deliveries(): readonly DeliveryRecord[] {
    return this.deliverer.deliveries;
  }

  get requests(): readonly RequestLogEntry[] {
    return this.api.requests;
  }

  get meterEvents(): readonly MeterEventObject[] {
    return this.store.meterEvents;
  }

  get meters(): ReadonlyMap<string, MeterObject> {
    return this.store.meters;
  }

  get customers(): ReadonlyMap<string, CustomerObject> {
    return this.store.customers;
  }

  get paymentMethods(): ReadonlyMap<string, PaymentMethodObject> {
    return this.store.paymentMethods;
  }

  get paymentIntents(): ReadonlyMap<string, PaymentIntentObject> {
    return this.store.paymentIntents;
  }

  get prices(): ReadonlyMap<string, PriceObject> {
    return this.store.prices;
  }

  get subscriptions(): ReadonlyMap<string, SubscriptionObject> {
    return this.store.subscriptions;
  }

  get checkoutSessions(): ReadonlyMap<string, CheckoutSessionObject> {
    return this.store.checkoutSessions;
  }

  get invoices(): ReadonlyMap<string, InvoiceObject> {
    return this.store.invoices;
  }

  get invoiceItems(): ReadonlyMap<string, InvoiceItemObject> {
    return this.store.invoiceItems;
  }

  get subscriptionSchedules(): ReadonlyMap<string, SubscriptionScheduleObject> {
    return this.store.subscriptionSchedules;
  }

  // Every collection attempt (API pay and attemptInvoicePayment), in order: what was charged, and how it went.
  get invoicePaymentAttempts(): readonly InvoicePaymentAttempt[] {
    return this.store.invoicePaymentAttempts;
  }

  // --- webhook delivery controls ---

  get delivery(): Readonly<DeliveryOptions> {
    return this.deliverer.delivery;
  }

  get queuedEvents(): readonly StripeEvent[] {
    return this.deliverer.queued;
  }

  setDelivery(options: Partial<DeliveryOptions> & { seed?: number }): void {
    this.deliverer.setDelivery(options);
  }

  flush(options?: FlushOptions): Promise<void> {
    return this.deliverer.flush(options);
  }

  redeliver(eventId: string): Promise<void> {
    const event = this.store.eventsById.get(eventId);
    if (!event) return Promise.reject(new Error(`fake Stripe: no event ${eventId}`));
    return this.deliverer.redeliver(event);
  }

  // Resolves once nothing is being delivered; in manual mode, queued events do not count.
  idle(): Promise<void> {
    return this.deliverer.idle();
  }

  // --- state controls: what a customer, a bank or Stripe itself would do ---

  completeCheckoutSession(sessionId: string, options?: CompleteCheckoutOptions): CheckoutSessionObject {
    return clone(this.store.completeCheckoutSession(sessionId, options));
  }

  settleAsyncPayment(sessionId: string, outcome: 'succeeded' | 'failed'): CheckoutSessionObject {
    return clone(this.store.settleAsyncPayment(sessionId, outcome));
  }

  setSubscriptionStatus(subscriptionId: string, status: SubscriptionStatus): SubscriptionObject {
    return clone(this.store.setSubscriptionStatus(subscriptionId, status));
  }

  detachAllPaymentMethods(customerId: string): PaymentMethodObject[] {
    this.store.customer(customerId);
    return this.store
      .customerPaymentMethods(customerId)
      .map((paymentMethod) =>
        clone(this.store.detachPaymentMethod(paymentMethod.id, { id: null, idempotency_key: null })),
      );
  }

  // --- invoices: what Stripe's billing engine does on its own ---

  // A draft invoice (`invoice.created`), as Stripe makes one at a subscription period's end.
  createInvoice(customerId: string, input: InvoiceInput): InvoiceObject {
    return clone(this.store.createInvoice(customerId, input));
  }

  // The end of the subscription's current period, as Stripe's billing engine handles it: the items move
  // to the next period (`customer.subscription.updated`), and the ended period's invoice is made as a
  // draft from its items and that period's meter events (`invoice.created`); `latest_invoice` follows.
  advanceSubscriptionPeriod(subscriptionId: string): {
    subscription: SubscriptionObject;
    invoice: InvoiceObject;
  } {
    const { subscription, invoice } = this.store.advanceSubscriptionPeriod(subscriptionId);
    return { subscription: clone(subscription), invoice: clone(invoice) };
  }

  // draft → open (`invoice.finalized`); a zero-amount invoice is paid at once.
  finalizeInvoice(invoiceId: string): InvoiceObject {
    return clone(this.store.finalizeInvoice(invoiceId, automaticRequest));
  }

  // One automatic collection attempt with the default payment method (subscription's, else customer's):
  // paid (`invoice.paid`, `invoice.payment_succeeded`), or still open with attempt_count + 1 and
  // `invoice.payment_failed` when there is no payment method or the card declines. Finalizes a draft first.
  attemptInvoicePayment(invoiceId: string): InvoiceObject {
    return clone(this.store.payInvoice(invoiceId, automaticRequest, { via: 'automatic' }));
  }

  markUncollectible(invoiceId: string): InvoiceObject {
    return clone(this.store.markInvoiceUncollectible(invoiceId, automaticRequest));
  }

  voidInvoice(invoiceId: string): InvoiceObject {
    return clone(this.store.voidInvoice(invoiceId, automaticRequest));
  }

  /** The cardholder authenticates a PaymentIntent waiting on 3-D Secure: it succeeds (authentication.ts). */
  completeAuthentication(paymentIntentId: string): PaymentIntentObject {
    return clone(completeAuthentication(this.store, paymentIntentId));
  }

  // Every card this customer holds now declines its charges (card_declined) until switched off again; a
  // card attached later pays, as a new card does on Stripe. Declines are per card: see setPaymentMethodDeclines.
  setCardDeclines(customerId: string, declines: boolean): void {
    this.store.customer(customerId);
    for (const paymentMethod of this.store.customerPaymentMethods(customerId)) {
      this.setPaymentMethodDeclines(paymentMethod.id, declines);
    }
  }

  // Every charge of this payment method (invoices, PaymentIntents) declines until switched off again.
  setPaymentMethodDeclines(paymentMethodId: string, declines: boolean): void {
    this.store.paymentMethod(paymentMethodId);
    if (declines) this.store.decliningPaymentMethods.add(paymentMethodId);
    else this.store.decliningPaymentMethods.delete(paymentMethodId);
  }

  // Raises an event the fake does not raise itself (an invoice.upcoming, say) with any object as its data.
  emitEvent(
    type: string,
    object: Record<string, unknown>,
    previousAttributes?: Record<string, unknown>,
  ): StripeEvent {
    if (!type.includes('.')) throw new Error(`fake Stripe: invalid event type ${type}`);
    return this.store.emit(type, object, { id: null, idempotency_key: null }, previousAttributes);
  }

  failNext(rule: FailureRule): void {
    this.api.failNext(rule);
  }

  // An outage: each API request (not hosted pages, not webhooks) fails with probability `rate` before it
  // is handled, with Stripe's 429 or 500 body, from a PRNG seeded by `seed`. Not saved under idempotency
  // keys, like failNext. `undefined` ends it.
  setFaultRate(options: FaultRate | undefined): void {
    this.api.setFaultRate(options);
  }

  /** Requests failed by `setFaultRate` so far (over the fake's lifetime). */
  get faultsInjected(): number {
    return this.api.faultsInjected;
  }

  /** Every API request waits this long before it is answered (a slow Stripe); 0 by default. */
  setLatency(ms: number): void {
    this.api.setLatency(ms);
  }

  // A token bucket of `requestsPerSecond` (full at once, refilled continuously) that every API request
  // draws from; without a token the request gets Stripe's 429. `undefined` lifts the limit.
  setRateLimit(limit: RateLimit | undefined): void {
    this.api.setRateLimit(limit);
  }

  // Every API answer leaves `ms` after its request was handled (0: at once), so a client can die between
  // Stripe doing the work and hearing of it.
  setResponseDelay(ms: number): void {
    this.api.setResponseDelay(ms);
  }

  // The meter event stream's limiter; `undefined` makes stream requests count toward the basic one.
  setStreamRateLimit(limit: RateLimit | undefined): void {
    this.api.setStreamRateLimit(limit);
  }

  // Sessions created from now on expire after `ms` (those already open keep their expiry).
  setMeterEventSessionTtl(ms: number): void {
    if (!(Number.isFinite(ms) && ms > 0)) throw new RangeError('the session lifetime must be positive');
    this.store.meterEventSessionTtlMs = ms;
  }

  // Every meter event session opened, oldest first.
  get meterEventSessions(): readonly MeterEventSessionRecord[] {
    return [...this.store.meterEventSessions.values()];
  }

  // Every event the v2 stream received, in order (replayed requests excluded); `duplicate` marks one
  // whose identifier the fake already had, dropped as Stripe drops it.
  get meterStreamReceived(): readonly { identifier: string; requestId: string; duplicate: boolean }[] {
    return this.store.meterStreamReceived;
  }

  async close(): Promise<void> {
    this.deliverer.close();
    this.meterErrors.close();
    const server = this.api.server;
    if (!server.listening) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

export async function startFakeStripe(options: FakeStripeOptions): Promise<FakeStripe> {
  const fake = new FakeStripe(options);
  await fake.listen(options.port ?? 0);
  return fake;
}
