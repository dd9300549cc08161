import { request as httpRequest, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createPrng, shuffled } from './ids.js';
import type { StripeEvent } from './objects.js';
import { signStripePayload } from './signature.js';

export interface DeliveryOptions {
  // 'immediate' delivers each event right after the request that caused it; 'manual' queues them until
  // flush(), so tests decide when and in which order the app hears about them.
  mode: 'immediate' | 'manual';
  // Extra copies of each event (Stripe delivers at least once, sometimes more).
  duplicates: number;
  shuffle: boolean;
  // Wait before an immediate delivery; events raised within the wait go out as one batch.
  delayMs: number;
  concurrency: number;
}

export interface RetryOptions {
  // Attempts per delivery, the first one included. Stripe retries for three days; the fake stays bounded.
  attempts: number;
  // Backoff before retry n is delayMs * 2^(n-1).
  delayMs: number;
  timeoutMs: number;
}

export interface FlushOptions {
  order?: 'in-order' | 'reverse' | 'shuffled';
  concurrency?: number;
}

export interface DeliveryRecord {
  eventId: string;
  type: string;
  // 0 for the original, 1… for duplicates and redeliveries.
  copy: number;
  attempt: number;
  at: number;
  url: string | null;
  status?: number;
  error?: string;
}

interface Job {
  event: StripeEvent;
  copy: number;
}

export interface DelivererOptions {
  secret: string;
  clock: () => number;
  seed: number;
  retry: RetryOptions;
  url: () => string | undefined;
}

export class WebhookDeliverer {
  readonly deliveries: DeliveryRecord[] = [];
  private options: DeliveryOptions = {
    mode: 'immediate',
    duplicates: 0,
    shuffle: false,
    delayMs: 0,
    concurrency: 1,
  };
  private random: () => number;
  private pending: Job[] = [];
  private copies = new Map<string, number>();
  private inFlight = 0;
  private autoFlush: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];
  private timers = new Set<NodeJS.Timeout>();
  private requests = new Set<ClientRequest>();
  private closed = false;

  constructor(private readonly config: DelivererOptions) {
    this.random = createPrng(config.seed);
  }

  get delivery(): Readonly<DeliveryOptions> {
    return this.options;
  }

  // Events waiting for a flush (manual mode) or for the next immediate batch.
  get queued(): readonly StripeEvent[] {
    return this.pending.map((job) => job.event);
  }

  setDelivery(options: Partial<DeliveryOptions> & { seed?: number }): void {
    const { seed, ...rest } = options;
    if (seed !== undefined) this.random = createPrng(seed);
    this.options = { ...this.options, ...rest };
    if (this.options.mode === 'immediate' && this.pending.length > 0) this.scheduleAutoFlush();
    else if (this.options.mode === 'manual' && this.autoFlush) {
      clearTimeout(this.autoFlush);
      this.autoFlush = undefined;
      this.settle();
    }
  }

  enqueue(event: StripeEvent): void {
    if (this.closed || !this.config.url()) return;
    for (let copy = 0; copy <= this.options.duplicates; copy++)
      this.pending.push({ event, copy: this.nextCopy(event) });
    if (this.options.mode === 'immediate') this.scheduleAutoFlush();
  }

  async flush(options: FlushOptions = {}): Promise<void> {
    const order = options.order ?? (this.options.shuffle ? 'shuffled' : 'in-order');
    const jobs = this.take(order);
    await this.run(jobs, options.concurrency ?? this.options.concurrency);
  }

  async redeliver(event: StripeEvent): Promise<void> {
    await this.run([{ event, copy: this.nextCopy(event) }], 1);
  }

  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    this.closed = true;
    if (this.autoFlush) clearTimeout(this.autoFlush);
    this.autoFlush = undefined;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const request of this.requests) request.destroy(new Error('fake Stripe closed'));
    this.requests.clear();
    this.pending = [];
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private nextCopy(event: StripeEvent): number {
    const copy = this.copies.get(event.id) ?? 0;
    this.copies.set(event.id, copy + 1);
    return copy;
  }

  private take(order: NonNullable<FlushOptions['order']>): Job[] {
    const jobs = this.pending;
    this.pending = [];
    if (order === 'reverse') return [...jobs].reverse();
    if (order === 'shuffled') return shuffled(jobs, this.random);
    return jobs;
  }

  private scheduleAutoFlush(): void {
    if (this.autoFlush || this.closed) return;
    this.autoFlush = setTimeout(() => {
      this.autoFlush = undefined;
      void this.flush().finally(() => this.settle());
    }, this.options.delayMs);
  }

  private isIdle(): boolean {
    return (
      this.inFlight === 0 && !this.autoFlush && (this.options.mode === 'manual' || this.pending.length === 0)
    );
  }

  private settle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private async run(jobs: Job[], concurrency: number): Promise<void> {
    this.inFlight += jobs.length;
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const job = jobs[next++] as Job;
        try {
          await this.deliver(job);
        } finally {
          this.inFlight--;
        }
      }
    };
    const workers = Array.from({ length: Math.max(1, Math.min(concurrency, jobs.length)) }, worker);
    await Promise.all(workers);
    this.settle();
  }

  private async deliver(job: Job): Promise<void> {
    // The stored event is already a snapshot; every attempt sends the same bytes with a fresh signature.
    const payload = JSON.stringify(job.event, null, 2);
    for (let attempt = 1; attempt <= this.config.retry.attempts && !this.closed; attempt++) {
      const url = this.config.url();
      const record: DeliveryRecord = {
        eventId: job.event.id,
        type: job.event.type,
        copy: job.copy,
        attempt,
        at: this.config.clock(),
        url: url ?? null,
      };
      this.deliveries.push(record);
      if (!url) {
        record.error = 'no webhook URL';
        return;
      }
      try {
        record.status = await this.post(url, payload);
        if (record.status >= 200 && record.status < 300) return;
      } catch (error) {
        record.error = error instanceof Error ? error.message : String(error);
      }
      if (attempt < this.config.retry.attempts)
        await this.sleep(this.config.retry.delayMs * 2 ** (attempt - 1));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  private post(url: string, payload: string): Promise<number> {
    const target = new URL(url);
    // Stripe signs a delivery when it sends it, in real time, whatever a test clock says the objects' time is.
    const timestamp = Math.floor(Date.now() / 1000);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const request = send(
        target,
        {
          method: 'POST',
          // A fresh connection per delivery: nothing pooled outlives close() or the receiver.
          agent: false,
          headers: {
            'Content-Type': 'application/json; charset=utf-8',
            'Content-Length': Buffer.byteLength(payload),
            'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
            'Cache-Control': 'no-cache',
            Accept: '*/*; q=0.5, application/xml',
            'Stripe-Signature': signStripePayload(payload, this.config.secret, timestamp),
            Connection: 'close',
          },
          timeout: this.config.retry.timeoutMs,
        },
        (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
          response.on('error', reject);
        },
      );
      this.requests.add(request);
      request.on('timeout', () =>
        request.destroy(new Error(`timed out after ${this.config.retry.timeoutMs} ms`)),
      );
      request.on('error', reject);
      request.on('close', () => this.requests.delete(request));
      request.end(payload);
    });
  }
}
