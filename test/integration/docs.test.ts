import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import type { Database } from '../../src/db/pool.js';
import { silentLogger } from '../helpers/logger.js';

// The docs page over real HTTP: it must work on a machine without internet, so every file it loads is
// served by the app itself, and its Content-Security-Policy allows nothing remote.
describe('the docs page (/docs) ships its own Swagger UI', () => {
  let server: ServerType;
  let baseUrl: string;

  beforeAll(async () => {
    // /docs touches neither the database nor Temporal.
    const app = createApp({ db: {} as Database, temporal: {} as Client, logger: silentLogger });
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  /** The URLs the page loads: every src and href attribute. */
  const assetUrls = (html: string) =>
    [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((match) => match[1]!);

  it('should answer HTML that loads only same-origin files, under a CSP that allows nothing remote', async () => {
    const response = await fetch(`${baseUrl}/docs`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await response.text();

    expect(html).not.toMatch(/https?:/i);
    expect(html).not.toMatch(/\/\/[a-z0-9.-]+\.[a-z]{2,}/i); // no protocol-relative host either
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i); // no inline script
    expect(html).not.toMatch(/<style|\sstyle=/i); // no inline style
    const urls = assetUrls(html);
    expect(urls.length).toBeGreaterThanOrEqual(3);
    for (const url of urls) expect(url, url).toMatch(/^\/docs\/[\w.-]+$/);

    const csp = response.headers.get('content-security-policy');
    expect(csp).toBeTruthy();
    const directives = new Map(
      csp!
        .split(';')
        .map((directive) => directive.trim().split(/\s+/))
        .filter((parts) => parts[0])
        .map(([name, ...values]) => [name!, values]),
    );
    expect(directives.get('default-src')).toEqual(["'self'"]);
    expect(directives.get('script-src')).toEqual(["'self'"]);
    expect(directives.get('style-src')).toEqual(["'self'"]);
    expect(directives.get('connect-src')).toEqual(["'self'"]);
    expect(directives.get('object-src')).toEqual(["'none'"]);
    expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
    // Only this origin and `data:` (the stylesheet's icons) anywhere: no host, no scheme-wide source.
    for (const [name, values] of directives) {
      for (const value of values) expect(["'self'", "'none'", 'data:'], `${name} ${value}`).toContain(value);
    }
  });

  it('should serve each file the page loads with 200 and its content type, and point Swagger UI at our document', async () => {
    const html = await (await fetch(`${baseUrl}/docs`)).text();
    const expected: Record<string, RegExp> = {
      '.js': /^text\/javascript; charset=utf-8$/,
      '.css': /^text\/css; charset=utf-8$/,
      '.png': /^image\/png$/,
    };
    const bodies = new Map<string, string>();
    for (const url of assetUrls(html)) {
      const response = await fetch(`${baseUrl}${url}`);
      expect(response.status, url).toBe(200);
      const extension = url.slice(url.lastIndexOf('.'));
      expect(response.headers.get('content-type'), url).toMatch(expected[extension]!);
      expect(response.headers.get('content-security-policy'), url).toBeTruthy();
      const body = await response.text();
      expect(body.length, url).toBeGreaterThan(0);
      bodies.set(url, body);
    }
    expect(bodies.get('/docs/swagger-ui-bundle.js')).toContain('SwaggerUIBundle');
    expect(bodies.get('/docs/swagger-ui.css')).toContain('.swagger-ui');
    const initializer = bodies.get('/docs/swagger-initializer.js')!;
    expect(initializer).toContain("url: '/openapi.json'");
    expect(initializer).toContain('validatorUrl: null');
    expect(initializer).not.toMatch(/https?:/);

    const document = await fetch(`${baseUrl}/openapi.json`);
    expect(document.status).toBe(200);
  });

  it('should answer the JSON 404 for a file it does not ship, and serve nothing outside the package', async () => {
    for (const path of [
      '/docs/nope.js',
      '/docs/..%2Fpackage.json',
      '/docs/index.html',
      '/docs/swagger-ui.js.map',
    ]) {
      const response = await fetch(`${baseUrl}${path}`);
      expect(response.status, path).toBe(404);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('not_found');
    }
  });
});
