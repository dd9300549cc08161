import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { Logger } from './logger.js';
import { renderMetrics } from './metrics.js';
import type { Secret } from './secret.js';

/**
 * Whether `authorization` carries the metrics token (`Bearer <METRICS_TOKEN>`), compared in constant
 * time (Secret.equals hashes both sides). No token configured: nothing matches.
 */
export function hasMetricsToken(token: Secret | undefined, authorization: string | undefined): boolean {
  if (!token) return false;
  const presented = /^Bearer ([^\s]+)$/.exec(authorization ?? '')?.[1] ?? '';
  return token.equals(presented);
}

/** A free port on loopback, for the Temporal runtime's own exporter (only this process reads it). */
export async function freeLoopbackAddress(): Promise<string> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

export interface WorkerMetricsOptions {
  /** METRICS_TOKEN: when set, every scrape must carry it; when unset, the address is the protection. */
  token: Secret | undefined;
  /**
   * Where the Temporal Core runtime's Prometheus exporter listens (on loopback): its `temporal_*`
   * worker metrics are served after this process's own.
   */
  temporalMetricsAddress?: string | undefined;
  logger: Logger;
  fetch?: typeof fetch;
}

/**
 * The worker's `GET /metrics`: this process's metrics (prom-client: Stripe calls, collection, sync,
 * billing gauges, Node.js) followed by the Temporal runtime's (task latencies, slots, sticky cache…),
 * read from its exporter at each scrape. One scrape target, one credential. The runtime's output
 * unavailable: this process's metrics alone, and a warning.
 */
export function workerMetricsApp(options: WorkerMetricsOptions) {
  const fetchImpl = options.fetch ?? fetch;
  return new Hono().get('/metrics', async (c) => {
    if (options.token && !hasMetricsToken(options.token, c.req.header('authorization'))) {
      return c.json({ error: { code: 'unauthorized', message: 'A valid metrics token is required' } }, 401);
    }
    const own = await renderMetrics();
    let temporal = '';
    if (options.temporalMetricsAddress) {
      try {
        const response = await fetchImpl(`http://${options.temporalMetricsAddress}/metrics`, {
          signal: AbortSignal.timeout(5_000),
        });
        if (response.ok) temporal = await response.text();
        else throw new Error(`status ${response.status}`);
      } catch (error) {
        options.logger.warn(
          { err: error instanceof Error ? error.message : String(error) },
          'Temporal runtime metrics unavailable',
        );
      }
    }
    const body = temporal ? `${own.body.trimEnd()}\n${temporal}` : own.body;
    return c.body(body, 200, { 'content-type': own.contentType });
  });
}

/** Serves the worker's metrics on `address` (host:port); resolves with its URL once it listens. */
export async function serveWorkerMetrics(
  app: ReturnType<typeof workerMetricsApp>,
  address: string,
): Promise<{ url: string; close: () => Promise<void> }> {
  const separator = address.lastIndexOf(':');
  const hostname = address.slice(0, separator);
  const server = serve({ fetch: app.fetch, hostname, port: Number(address.slice(separator + 1)) });
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([error]) => Promise.reject(error as Error)),
  ]);
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${hostname === '0.0.0.0' ? '127.0.0.1' : hostname}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
