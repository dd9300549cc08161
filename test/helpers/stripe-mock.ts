import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import Stripe from 'stripe';
import { inject } from 'vitest';
import { freePort } from './ports.js';
import '../setup/context.js';

export interface StripeMock {
  stripe: Stripe;
  /** `http://127.0.0.1:<port>`, for code that builds its own client from STRIPE_API_URL. */
  url: string;
  stop(): Promise<void>;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * stripe-mock on a loopback port, and the real Stripe SDK pointed at it. stripe-mock validates every
 * request against Stripe's OpenAPI spec, so a request shape Stripe would refuse fails here too.
 */
export async function startStripeMock(): Promise<StripeMock> {
  const port = await freePort();
  // stripe-mock also opens HTTPS, on *:12112 unless told otherwise; a port of its own on loopback lets
  // several instances (parallel test files) run at once.
  const child = spawn(
    inject('stripeMockPath'),
    ['-http-addr', `127.0.0.1:${port}`, '-https-addr', '127.0.0.1:'],
    {
      stdio: 'ignore',
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let attempt = 0; !(await accepts(port)); attempt++) {
    if (attempt > 100 || child.exitCode !== null) throw new Error('stripe-mock did not start');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const stripe = new Stripe('sk_test_123', {
    host: '127.0.0.1',
    port,
    protocol: 'http',
    maxNetworkRetries: 0,
  });
  return {
    stripe,
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
