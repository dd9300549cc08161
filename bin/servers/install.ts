import { access, chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/paths.js';
import { hasCommand, run, stderrProgress, type Progress } from './process.js';

/**
 * The servers this project runs, installed from package registries only (the Go module proxy and
 * Maven Central), pinned, built once into a cache folder that git ignores, and reused afterwards.
 * Every install builds into a scratch folder and renames it into place, so two processes installing
 * at once cannot leave a half-written server behind.
 */
export const PINNED = {
  temporalCli: { module: 'github.com/temporalio/cli/cmd/temporal', version: 'v1.5.1' },
  stripeMock: { module: 'github.com/stripe/stripe-mock', version: 'v0.203.0' },
  testServer: { group: 'io.temporal', artifact: 'temporal-test-server', version: '1.31.0' },
} as const;

const CACHE_DIR = join(PROJECT_ROOT, '.cache', 'servers');

/** How the Temporal SDK should obtain a server binary. */
export type ServerExecutable = { type: 'existing-path'; path: string } | { type: 'cached-download' };

export interface InstallOptions {
  env?: Record<string, string | undefined>;
  progress?: Progress;
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Builds into `<target>.tmp-<pid>`, then renames it into place; a concurrent winner is kept. */
async function installAtomically(
  target: string,
  build: (scratch: string) => Promise<void>,
  binary: string,
): Promise<string> {
  const finalBinary = join(target, binary);
  if (await isExecutable(finalBinary)) return finalBinary;
  const scratch = `${target}.tmp-${process.pid}`;
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  try {
    await build(scratch);
    await rename(scratch, target).catch(async (error: NodeJS.ErrnoException) => {
      if (!(await isExecutable(finalBinary))) throw error;
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return finalBinary;
}

async function goInstall(
  name: string,
  pin: { module: string; version: string },
  binary: string,
  progress: Progress,
): Promise<string> {
  const target = join(CACHE_DIR, `${binary}-${pin.version}`);
  return installAtomically(
    target,
    async (scratch) => {
      progress(
        `${name} ${pin.version}: go install ${pin.module}@${pin.version} (first time only; can take minutes)`,
      );
      const started = Date.now();
      let packages = 0;
      await run('go', ['install', '-v', `${pin.module}@${pin.version}`], {
        env: { ...process.env, GOBIN: scratch, GOFLAGS: '-buildvcs=false' },
        onLine: (line) => {
          if (line.startsWith('go: downloading')) progress(`${name}: ${line.slice(4)}`);
          else if (++packages % 50 === 0) progress(`${name}: compiled ${packages} packages…`);
        },
      });
      progress(`${name} ${pin.version}: built in ${Math.round((Date.now() - started) / 1000)} s`);
    },
    binary,
  );
}

/**
 * The Temporal CLI (dev server and Web UI). `TEMPORAL_CLI_PATH` wins; otherwise it is built with Go;
 * on a machine without Go the SDK downloads it (that needs internet access).
 */
export async function resolveTemporalCli(options: InstallOptions = {}): Promise<ServerExecutable> {
  const { env = process.env, progress = stderrProgress } = options;
  if (env.TEMPORAL_CLI_PATH) return { type: 'existing-path', path: await mustExist(env.TEMPORAL_CLI_PATH) };
  if (await hasCommand('go', ['version'])) {
    return {
      type: 'existing-path',
      path: await goInstall('Temporal CLI', PINNED.temporalCli, 'temporal', progress),
    };
  }
  progress('Go is not installed: the Temporal SDK will download the Temporal CLI (needs internet access)');
  return { type: 'cached-download' };
}

/**
 * The time-skipping test server: Maven Central's io.temporal:temporal-test-server with its
 * dependencies, behind a launcher script the SDK runs as an existing path (it passes the port).
 */
export async function resolveTestServer(options: InstallOptions = {}): Promise<ServerExecutable> {
  const { env = process.env, progress = stderrProgress } = options;
  if (env.TEMPORAL_TEST_SERVER_PATH) {
    return { type: 'existing-path', path: await mustExist(env.TEMPORAL_TEST_SERVER_PATH) };
  }
  if (!(await hasCommand('mvn', ['-v'])) || !(await hasCommand('java', ['-version']))) {
    progress(
      'Java or Maven is not installed: the Temporal SDK will download the test server (needs internet)',
    );
    return { type: 'cached-download' };
  }
  const pin = PINNED.testServer;
  const target = join(CACHE_DIR, `temporal-test-server-${pin.version}`);
  const path = await installAtomically(
    target,
    async (scratch) => {
      progress(
        `Temporal test server ${pin.version}: fetching ${pin.group}:${pin.artifact} and its dependencies`,
      );
      await writeFile(join(scratch, 'pom.xml'), testServerPom(pin));
      await run(
        'mvn',
        [
          '-B',
          '-ntp',
          '-f',
          join(scratch, 'pom.xml'),
          'dependency:copy-dependencies',
          '-DoutputDirectory=lib',
        ],
        {
          onLine: (line) => {
            if (/BUILD|ERROR/.test(line)) progress(`test server: ${line.replace(/^\[\w+\]\s*/, '')}`);
          },
        },
      );
      const launcher = join(scratch, 'temporal-test-server');
      // The SDK runs this with the port as first argument; the classpath is resolved relative to it.
      await writeFile(
        launcher,
        '#!/bin/sh\nDIR=$(dirname "$0")\nexec java -cp "$DIR/lib/*" io.temporal.testserver.TestServer "$@"\n',
      );
      await chmod(launcher, 0o755);
    },
    'temporal-test-server',
  );
  return { type: 'existing-path', path };
}

/** stripe-mock, which checks every request against Stripe's OpenAPI spec (contract tests). */
export async function resolveStripeMock(options: InstallOptions = {}): Promise<string> {
  const { env = process.env, progress = stderrProgress } = options;
  if (env.STRIPE_MOCK_PATH) return mustExist(env.STRIPE_MOCK_PATH);
  if (!(await hasCommand('go', ['version']))) {
    throw new Error('stripe-mock needs Go to be built (or STRIPE_MOCK_PATH pointing to a binary)');
  }
  return goInstall('stripe-mock', PINNED.stripeMock, 'stripe-mock', progress);
}

async function mustExist(path: string): Promise<string> {
  if (!(await isExecutable(path))) throw new Error(`${path} is not an executable file`);
  return path;
}

function testServerPom(pin: { group: string; artifact: string; version: string }): string {
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>billing-orchestrator</groupId>
  <artifactId>temporal-test-server-launcher</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>${pin.group}</groupId>
      <artifactId>${pin.artifact}</artifactId>
      <version>${pin.version}</version>
    </dependency>
  </dependencies>
</project>
`;
}

/** Installs every server the tests need; prints where each one is. */
export async function installAllServers(options: InstallOptions = {}): Promise<void> {
  const progress = options.progress ?? stderrProgress;
  const describe = (executable: ServerExecutable) =>
    executable.type === 'existing-path' ? executable.path : 'SDK download';
  progress(`Temporal CLI: ${describe(await resolveTemporalCli(options))}`);
  progress(`Temporal test server: ${describe(await resolveTestServer(options))}`);
  progress(`stripe-mock: ${await resolveStripeMock(options)}`);
}
