import type { DailyCost } from '../../src/domain/forecast.js';

/*
 * Simulated daily costs of customers, for the forecast's and the anomaly rule's measurements: each
 * customer has a base cost, a weekly rhythm (quieter weekends, or none), a drift (growing or shrinking
 * workloads) and multiplicative noise; spikes can be injected. Deterministic for a seed.
 */

/** mulberry32: a small, well-known seeded PRNG (uniform in [0, 1)). */
export function randomSource(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function normal(random: () => number): number {
  // Box–Muller.
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

export interface SimulatedCustomer {
  id: string;
  days: DailyCost[];
  /** Dates of injected spikes. */
  spikes: string[];
}

export interface SimulationOptions {
  customers: number;
  /** First day, `YYYY-MM-DD`. */
  start: string;
  days: number;
  seed: number;
  /**
   * Spikes to inject, each on its own customer and a day after the first 21: a runaway job adding 5 to
   * 9 of the customer's usual weekdays' cost to that day.
   */
  spikes?: number;
}

export function simulateCustomers(options: SimulationOptions): SimulatedCustomer[] {
  const random = randomSource(options.seed);
  const startMs = Date.parse(`${options.start}T00:00:00Z`);
  const customers: (SimulatedCustomer & { usual: (day: number) => number })[] = Array.from(
    { length: options.customers },
    (_, index) => {
      const base = Math.max(3, Math.exp(Math.log(20) + normal(random))) * 1_000_000; // $3 a day at least
      const weekly = random() < 0.7;
      const weekend = weekly ? 0.2 + random() * 0.6 : 1;
      const drift = 0.004 + 0.008 * normal(random); // per day
      const noise = 0.08 + random() * 0.2;
      const days = Array.from({ length: options.days }, (_, day) => {
        const at = new Date(startMs + day * 86_400_000);
        const weekday = at.getUTCDay();
        const rhythm = weekday === 0 || weekday === 6 ? weekend : 1;
        const value =
          base * Math.exp(drift * day) * rhythm * Math.exp(noise * normal(random) - (noise * noise) / 2);
        return { date: at.toISOString().slice(0, 10), micros: BigInt(Math.max(0, Math.round(value))) };
      });
      return { id: `sim_${index}`, days, spikes: [], usual: (day: number) => base * Math.exp(drift * day) };
    },
  );
  for (let injected = 0; injected < (options.spikes ?? 0);) {
    const customer = customers[Math.floor(random() * customers.length)]!;
    const day = 21 + Math.floor(random() * (options.days - 21));
    const target = customer.days[day]!;
    if (customer.spikes.length > 0) continue; // one spike per customer: each is its own incident
    target.micros += BigInt(Math.round(customer.usual(day) * (5 + random() * 4)));
    customer.spikes.push(target.date);
    injected++;
  }
  return customers.map(({ id, days, spikes }) => ({ id, days, spikes }));
}
