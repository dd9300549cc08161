import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres, type PostgresServer } from '../../bin/servers/postgres.js';
import { freePort } from './ports.js';

export interface ScratchPostgres {
  server: PostgresServer;
  /** Where the cluster lives; start it again there with `restart()`. */
  dataDir: string;
  restart(): Promise<PostgresServer>;
  /** Stops the server and deletes its files. */
  destroy(): Promise<void>;
}

/**
 * An embedded Postgres in a temporary folder, on a free loopback port, with a random password:
 * for the test run, a test that stops and restarts its database, and benchmarks.
 */
export async function startScratchPostgres(prefix: string): Promise<ScratchPostgres> {
  const scratch = await mkdtemp(join(tmpdir(), `${prefix}-`));
  await chmod(scratch, 0o755); // the unprivileged postgres user must reach it when we run as root
  const options = {
    dataDir: join(scratch, 'postgres'),
    port: await freePort(),
    password: randomBytes(16).toString('hex'),
    progress: () => undefined,
  };
  const handle: ScratchPostgres = {
    server: await startEmbeddedPostgres(options),
    dataDir: options.dataDir,
    async restart() {
      handle.server = await startEmbeddedPostgres(options);
      return handle.server;
    },
    async destroy() {
      await handle.server.stop();
      await rm(scratch, { recursive: true, force: true });
    },
  };
  return handle;
}
