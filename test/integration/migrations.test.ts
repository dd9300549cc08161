import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, MIGRATIONS_TABLE } from '../../src/db/migrate.js';
import { createTestDatabase, migrationCount, type TestDatabase } from '../helpers/database.js';
import { silentLogger } from '../helpers/logger.js';

describe('migrations', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrated: false });
  });
  afterAll(() => db.drop());

  it('given an empty database, should apply every migration once and record it', async () => {
    const applied = await migrate(db.url, silentLogger);
    expect(applied).toContain('001_initial_schema');
    const { rows } = await db.pool.query(`SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY id`);
    expect(rows.map((row) => row.name)).toEqual(applied);
  });

  it('when run again, and from two processes at once, should change nothing', async () => {
    expect(await migrate(db.url, silentLogger)).toEqual([]);
    const fresh = await createTestDatabase({ migrated: false });
    try {
      const [first, second] = await Promise.all([
        migrate(fresh.url, silentLogger),
        migrate(fresh.url, silentLogger),
      ]);
      // The advisory lock serialises them: one applies everything, the other finds nothing to do.
      expect([first.length, second.length].sort()).toEqual([0, await migrationCount()]);
      const { rows } = await fresh.pool.query(`SELECT count(*)::int AS n FROM ${MIGRATIONS_TABLE}`);
      expect(rows[0].n).toBe(await migrationCount());
    } finally {
      await fresh.drop();
    }
  });

  it('given a failing migration, should reject, roll it back whole and keep the ones before it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'billing-migrations-'));
    const broken = await createTestDatabase({ migrated: false });
    try {
      await writeFile(join(dir, '001_ok.sql'), 'CREATE TABLE kept (id int);');
      await writeFile(
        join(dir, '002_broken.sql'),
        'CREATE TABLE half (id int);\nSELECT * FROM no_such_table;',
      );
      await expect(migrate(broken.url, silentLogger, dir)).rejects.toThrow(/no_such_table/);
      const { rows } = await broken.pool.query(
        `SELECT (SELECT array_agg(name) FROM ${MIGRATIONS_TABLE}) AS applied,
                to_regclass('kept') IS NOT NULL AS kept, to_regclass('half') IS NOT NULL AS half`,
      );
      expect(rows[0]).toEqual({ applied: ['001_ok'], kept: true, half: false });
    } finally {
      await broken.drop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('should seed the default price book in micro-dollars', async () => {
    const { rows } = await db.pool.query(
      'SELECT metric, unit_price_micros, unit_quantity FROM prices WHERE active ORDER BY metric',
    );
    expect(rows).toEqual([
      { metric: 'api_calls', unit_price_micros: 10_000n, unit_quantity: 1000n },
      { metric: 'cpu_hours', unit_price_micros: 100_000n, unit_quantity: 1n },
      { metric: 'credits', unit_price_micros: 1_000_000n, unit_quantity: 1n },
      { metric: 'gpu_hours', unit_price_micros: 2_000_000n, unit_quantity: 1n },
      { metric: 'memory_gb_hours', unit_price_micros: 0n, unit_quantity: 1n },
      { metric: 'storage_gb_month', unit_price_micros: 150_000n, unit_quantity: 1n },
    ]);
  });
});

describe('schema invariants', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(
      `INSERT INTO clusters (id, name, hopsworks_api_url) VALUES ('eu-1', 'EU 1', 'https://eu-1.example.test')`,
    );
    await db.pool.query(
      `INSERT INTO customers (id, auth_subject, email) VALUES ('c1', 'auth0|c1', 'c1@example.test')`,
    );
  });
  afterAll(() => db.drop());

  const rejects = (sql: string, params: unknown[] = []) => expect(db.pool.query(sql, params)).rejects;

  it('should keep ledger idempotency keys unique and the ledger append-only', async () => {
    const insert = `INSERT INTO credit_ledger (customer_id, kind, amount_micros, idempotency_key, actor)
                    VALUES ('c1', 'grant', $1, $2, 'admin')`;
    await db.pool.query(insert, [5_000_000, 'grant:c1:1']);
    await rejects(insert, [5_000_000, 'grant:c1:1']).toThrow(/duplicate key/);
    await rejects(`UPDATE credit_ledger SET amount_micros = 1`).toThrow(/append-only/);
    await rejects(`DELETE FROM credit_ledger`).toThrow(/append-only/);
  });

  it('should check the sign of ledger amounts by kind', async () => {
    const insert = `INSERT INTO credit_ledger (customer_id, kind, amount_micros, idempotency_key, actor)
                    VALUES ('c1', $1, $2, $3, 'system')`;
    await rejects(insert, ['grant', -1, 'neg-grant']).toThrow(/check constraint/);
    await rejects(insert, ['usage', 1, 'pos-usage']).toThrow(/check constraint/);
    await rejects(insert, ['gift', 1, 'unknown-kind']).toThrow(/check constraint/);
  });

  it('should allow one usage_daily row per customer, cluster and day, with a consistent total', async () => {
    const insert = `INSERT INTO usage_daily (customer_id, cluster_id, usage_date, billing_mode, cpu_hours,
                      cpu_cost_micros, total_cost_micros) VALUES ('c1', 'eu-1', '2026-11-01', 'postpaid', 1.5, $1, $2)`;
    await db.pool.query(insert, [150_000, 150_000]);
    await rejects(insert, [150_000, 150_000]).toThrow(/duplicate key/);
    await rejects(insert.replace('2026-11-01', '2026-11-02'), [150_000, 1]).toThrow(/check constraint/);
  });

  it('should keep meter report identifiers and Stripe event ids unique', async () => {
    const { rows } = await db.pool.query(`SELECT id FROM usage_daily LIMIT 1`);
    const report = `INSERT INTO meter_reports (usage_daily_id, customer_id, metric, identifier, event_name, value,
                      event_timestamp) VALUES ($1, 'c1', $2, 'c1:2026-11-01:cpu_hours', 'cpu_hours', 150000, now())`;
    await db.pool.query(report, [rows[0].id, 'cpu_hours']);
    await rejects(report, [rows[0].id, 'gpu_hours']).toThrow(/duplicate key/);

    const event = `INSERT INTO stripe_events (id, type, livemode, stripe_created_at, payload)
                   VALUES ('evt_1', 'invoice.paid', false, now(), '{}')`;
    await db.pool.query(event);
    await rejects(event).toThrow(/duplicate key/);
  });

  it('should refuse unknown enum values and dangling references', async () => {
    await rejects(`UPDATE customers SET status = 'frozen' WHERE id = 'c1'`).toThrow(/check constraint/);
    await rejects(`UPDATE customers SET billing_mode = 'prepaid' WHERE id = 'c1'`).toThrow(
      /check constraint/,
    );
    await rejects(`UPDATE customers SET cluster_id = 'nowhere' WHERE id = 'c1'`).toThrow(/foreign key/);
    await rejects(
      `INSERT INTO invoices (stripe_invoice_id, customer_id, period_start, period_end, status)
       VALUES ('in_1', 'c1', now(), now(), 'lost')`,
    ).toThrow(/check constraint/);
  });
});
