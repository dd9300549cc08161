import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createApp } from '../../api/app.js';
import { createPool } from '../../src/db/pool.js';
import { silentLogger } from '../helpers/logger.js';
import { freePort } from '../helpers/ports.js';
import { startScratchPostgres, type ScratchPostgres } from '../helpers/scratch-postgres.js';

type ReadyBody = { status: string; checks: { postgres: { status: string }; temporal: { status: string } } };

describe('health endpoints', () => {
  // A Postgres of this file's own, so the test can stop and restart it without disturbing others.
  let postgres: ScratchPostgres;
  let pool: pg.Pool;
  let temporal: Client;

  beforeAll(async () => {
    postgres = await startScratchPostgres('billing-health');
    pool = createPool({ url: postgres.server.url('postgres'), logger: silentLogger });
    temporal = new Client({ connection: await Connection.connect({ address: inject('temporalAddress') }) });
  });
  afterAll(async () => {
    await pool.end();
    await temporal.connection.close();
    await postgres.destroy();
  });

  const app = () => createApp({ db: pool, temporal, logger: silentLogger });

  it('given Postgres and Temporal up, /healthz and /readyz should answer 200', async () => {
    expect((await app().request('/healthz')).status).toBe(200);
    const response = await app().request('/readyz');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      status: 'ok',
      checks: { postgres: { status: 'ok' }, temporal: { status: 'ok' } },
    });
  });

  it('given Postgres stopped, /readyz should answer 503 naming Postgres, and 200 again once it is back', async () => {
    await postgres.server.stop();
    const down = await app().request('/readyz');
    expect(down.status).toBe(503);
    const body = (await down.json()) as ReadyBody;
    expect(body.checks.postgres.status).toBe('unavailable');
    expect(body.checks.temporal.status).toBe('ok');
    expect((await app().request('/healthz')).status).toBe(200);

    await postgres.restart();
    expect((await app().request('/readyz')).status).toBe(200);
  });

  it('given Temporal unreachable, /readyz should answer 503 naming Temporal', async () => {
    const unreachable = new Client({
      connection: Connection.lazy({ address: `127.0.0.1:${await freePort()}`, connectTimeout: 500 }),
    });
    const response = await createApp({ db: pool, temporal: unreachable, logger: silentLogger }).request(
      '/readyz',
    );
    expect(response.status).toBe(503);
    const body = (await response.json()) as ReadyBody;
    expect(body.checks).toMatchObject({ postgres: { status: 'ok' }, temporal: { status: 'unavailable' } });
  });

  it('should answer unknown routes with the JSON error shape', async () => {
    const response = await app().request('/no/such/route');
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      error: { code: 'not_found', message: 'No route for GET /no/such/route' },
    });
  });
});
