import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedExchange {
  method: string;
  path: string;
  status: number;
  /** The JSON the fake answered (undefined when the body was not JSON). */
  body: unknown;
}

export interface ResponseRecorder {
  /** `http://127.0.0.1:<port>`: give it to the SDK as the Stripe API's address. */
  url: string;
  readonly exchanges: readonly RecordedExchange[];
  /** Where requests go; set before the first request (the fake may start after the recorder). */
  target: string | undefined;
  close(): Promise<void>;
}

/**
 * A pass-through HTTP proxy on loopback that keeps every answer the fake Stripe gives, so a test can
 * hold each returned object to Stripe's types without the fake knowing it is watched.
 */
export async function startResponseRecorder(target?: string): Promise<ResponseRecorder> {
  const exchanges: RecordedExchange[] = [];
  const recorder = { target } as { target: string | undefined };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      void (async () => {
        try {
          if (!recorder.target) throw new Error('the recorder has no target yet');
          const headers = new Headers();
          for (const [name, value] of Object.entries(request.headers)) {
            if (typeof value === 'string' && !['host', 'connection', 'content-length'].includes(name)) {
              headers.set(name, value);
            }
          }
          const method = request.method ?? 'GET';
          const answer = await fetch(`${recorder.target}${request.url ?? '/'}`, {
            method,
            headers,
            ...(method === 'GET' || method === 'HEAD' ? {} : { body: Buffer.concat(chunks) }),
            redirect: 'manual',
          });
          const text = await answer.text();
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          const url = new URL(request.url ?? '/', 'http://recorder.invalid');
          exchanges.push({ method, path: url.pathname, status: answer.status, body });
          const out: Record<string, string> = {};
          answer.headers.forEach((value, name) => {
            if (!['content-length', 'content-encoding', 'transfer-encoding', 'connection'].includes(name)) {
              out[name] = value;
            }
          });
          response.writeHead(answer.status, out);
          response.end(text);
        } catch (error) {
          response.writeHead(502, { 'content-type': 'text/plain' });
          response.end(error instanceof Error ? error.message : String(error));
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    exchanges,
    get target() {
      return recorder.target;
    },
    set target(value) {
      recorder.target = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
