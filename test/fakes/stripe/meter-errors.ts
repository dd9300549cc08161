import { newId } from './ids.js';
import type { MeterEventObject, MeterObject } from './objects.js';
import { signStripePayload } from './signature.js';
import type { StripeStore } from './store.js';

/*
 * Stripe's asynchronous validation of meter events, as far as the code can tell: an event the API took
 * (200) that names no active meter, a customer Stripe does not have, a value that is no whole number or
 * a timestamp outside the window is collected per meter for a validation window, then reported by one
 * thin event to the account's event destination, signed as Stripe signs event destinations (the
 * `Stripe-Signature` scheme with the destination's `whsec_…`), and served in full at
 * `GET /v2/core/events/:id`. Shapes are the stripe package's V1BillingMeterErrorReportTriggeredEvent and
 * V1BillingMeterNoMeterFoundEvent for the pinned version (`data.reason.error_types[].sample_errors[]`
 * with `error_message` and `request.identifier`).
 *
 * The v1 endpoint already refuses a timestamp outside the window at once (400, param `timestamp`), as
 * Stripe's v1 API does, so through it only the meter, customer and value checks report; `check` applies
 * them all, for the v2 meter event stream (issue 16), which validates nothing at once.
 */

export interface MeterErrorDestination {
  url: string;
  /** The destination's signing secret (`whsec_…`). */
  secret: string;
}

export interface MeterErrorOptions {
  destination?: MeterErrorDestination;
  /** How long errors are collected before one event per meter reports them (Stripe: seconds). */
  windowMs?: number;
  /** Sample errors per error code in one event; the count includes the rest (Stripe sends a few). */
  maxSamples?: number;
}

export interface MeterErrorDelivery {
  eventId: string;
  type: string;
  url: string;
  attempt: number;
  status?: number;
  error?: string;
}

/** A `v2.core.event` as GET /v2/core/events/:id answers it. */
export type FullThinEvent = Record<string, unknown> & { id: string; type: string };

interface QueuedError {
  code: string;
  message: string;
  identifier: string;
}

const WINDOW_SECONDS = 35 * 86_400;
const FUTURE_SECONDS = 300;
const DELIVERY_ATTEMPTS = 3;

const reporters = new WeakMap<StripeStore, MeterErrorReporter>();

/** The reporter a store's routes hand meter events to (index.ts attaches it). */
export function meterErrorsOf(store: StripeStore): MeterErrorReporter | undefined {
  return reporters.get(store);
}

export class MeterErrorReporter {
  /** Every meter error event raised, by id, as GET /v2/core/events/:id serves it. */
  readonly events = new Map<string, FullThinEvent>();
  readonly deliveries: MeterErrorDelivery[] = [];
  private readonly queued = new Map<string, { meter: MeterObject | null; errors: QueuedError[] }>();
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private destination: MeterErrorDestination | undefined;

  constructor(
    private readonly store: StripeStore,
    private readonly options: MeterErrorOptions = {},
  ) {
    this.destination = options.destination;
    reporters.set(store, this);
  }

  setDestination(destination: MeterErrorDestination | undefined): void {
    this.destination = destination;
  }

  /** Validates an accepted meter event as Stripe does afterwards; an error is queued for the window. */
  check(event: MeterEventObject): void {
    const error = this.validate(event);
    if (!error) return;
    const key = error.meter?.id ?? 'no_meter';
    const entry = this.queued.get(key) ?? { meter: error.meter, errors: [] };
    entry.errors.push({ code: error.code, message: error.message, identifier: event.identifier });
    this.queued.set(key, entry);
    this.timer ??= setTimeout(() => void this.flush(), this.options.windowMs ?? 100);
  }

  private validate(
    event: MeterEventObject,
  ): { meter: MeterObject | null; code: string; message: string } | undefined {
    const meters = [...this.store.meters.values()].filter((meter) => meter.event_name === event.event_name);
    const meter = meters.find((candidate) => candidate.status === 'active');
    if (!meter) {
      const archived = meters[0];
      return archived
        ? { meter: archived, code: 'archived_meter', message: `Meter ${archived.id} is not active.` }
        : {
            meter: null,
            code: 'no_meter',
            message: `No active meter was found for event_name ${event.event_name}.`,
          };
    }
    const now = this.store.now();
    if (event.timestamp < now - WINDOW_SECONDS) {
      return {
        meter,
        code: 'timestamp_too_far_in_past',
        message: 'The event timestamp cannot be more than 35 days in the past.',
      };
    }
    if (event.timestamp > now + FUTURE_SECONDS) {
      return {
        meter,
        code: 'timestamp_in_future',
        message: 'The event timestamp cannot be more than 5 minutes in the future.',
      };
    }
    const customerKey = meter.customer_mapping.event_payload_key;
    const customer = event.payload[customerKey];
    if (!customer) {
      return {
        meter,
        code: 'meter_event_no_customer_defined',
        message: `Customer mapping key ${customerKey} not found in payload.`,
      };
    }
    if (!this.store.customers.has(customer)) {
      return {
        meter,
        code: 'meter_event_customer_not_found',
        message: `No customer with id ${customer} was found.`,
      };
    }
    const value = event.payload[meter.value_settings.event_payload_key];
    if (value === undefined || !/^-?\d+$/.test(value)) {
      return {
        meter,
        code: 'meter_event_invalid_value',
        message: 'Meter event value must be a whole number.',
      };
    }
    return undefined;
  }

  /** Ends the window now: one event per meter with errors (and one for events without a meter), delivered. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batches = [...this.queued.values()];
    this.queued.clear();
    for (const batch of batches) {
      const event = this.raise(batch.meter, batch.errors);
      const delivery = this.deliver(event).finally(() => this.inFlight.delete(delivery));
      this.inFlight.add(delivery);
    }
    await Promise.all([...this.inFlight]);
  }

  private raise(meter: MeterObject | null, errors: QueuedError[]): FullThinEvent {
    const nowMs = this.store.now() * 1000;
    const byCode = new Map<string, QueuedError[]>();
    for (const error of errors) byCode.set(error.code, [...(byCode.get(error.code) ?? []), error]);
    const maxSamples = this.options.maxSamples ?? 10;
    const count = errors.length;
    const livemode = this.store.livemode;
    const event: FullThinEvent = {
      id: newId(livemode ? 'evt' : 'evt_test', 46),
      object: 'v2.core.event',
      context: null,
      created: new Date(nowMs).toISOString(),
      data: {
        developer_message_summary:
          count === 1 ? 'There is 1 invalid event' : `There are ${count} invalid events`,
        reason: {
          error_count: count,
          error_types: [...byCode].map(([code, ofCode]) => ({
            code,
            error_count: ofCode.length,
            sample_errors: ofCode
              .slice(0, maxSamples)
              .map((error) => ({ error_message: error.message, request: { identifier: error.identifier } })),
          })),
        },
        validation_end: new Date(nowMs).toISOString(),
        validation_start: new Date(nowMs - (this.options.windowMs ?? 100)).toISOString(),
      },
      livemode,
      reason: null,
      related_object: meter
        ? { id: meter.id, type: 'billing.meter', url: `/v1/billing/meters/${meter.id}` }
        : null,
      type: meter ? 'v1.billing.meter.error_report_triggered' : 'v1.billing.meter.no_meter_found',
    };
    this.events.set(event.id, event);
    return event;
  }

  /** The thin event: the envelope without `data`, which the receiver fetches. */
  static thin(event: FullThinEvent): Record<string, unknown> {
    const { id, object, type, livemode, created, related_object: related } = event;
    return { id, object, type, livemode, created, ...(related ? { related_object: related } : {}) };
  }

  /** Delivers (or redelivers) an event to the destination, retrying a failed attempt a few times. */
  async deliver(event: FullThinEvent): Promise<void> {
    const destination = this.destination;
    if (!destination) return;
    const body = JSON.stringify(MeterErrorReporter.thin(event), null, 2);
    for (let attempt = 1; attempt <= DELIVERY_ATTEMPTS; attempt++) {
      const record: MeterErrorDelivery = {
        eventId: event.id,
        type: event.type,
        url: destination.url,
        attempt,
      };
      this.deliveries.push(record);
      try {
        const response = await fetch(destination.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json; charset=utf-8',
            'stripe-signature': signStripePayload(body, destination.secret, this.store.now()),
          },
          body,
          signal: AbortSignal.timeout(5_000),
        });
        record.status = response.status;
        await response.arrayBuffer();
        if (response.ok) return;
      } catch (error) {
        record.error = error instanceof Error ? error.message : String(error);
      }
      await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** (attempt - 1)));
    }
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queued.clear();
  }
}
