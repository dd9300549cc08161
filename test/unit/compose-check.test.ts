import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const script = join(import.meta.dirname, '..', '..', 'src', 'tooling', 'compose-check.mjs');
const dirs: string[] = [];

/** A PATH holding only the given clients (shell scripts), so what the machine has installed does not matter. */
function pathWith(clients: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'compose-check-'));
  dirs.push(dir);
  for (const [name, body] of Object.entries(clients)) {
    const file = join(dir, name);
    writeFileSync(file, `#!/bin/sh\n${body}\n`);
    chmodSync(file, 0o755);
  }
  return dir;
}

function check(path: string, ci: boolean) {
  const env: Record<string, string> = { PATH: path };
  if (ci) env.CI = 'true';
  const result = spawnSync(process.execPath, [script], { env, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

// The docker client without the compose plugin, as Docker's CLI answers: `compose` is no command,
// and `-f` after it is taken for one of docker's own flags.
const dockerWithoutCompose = `
if [ "$1" = compose ] && [ "$2" = version ]; then echo 'docker: unknown command: docker compose' >&2; exit 1; fi
if [ "$1" = compose ]; then echo "unknown shorthand flag: 'f' in -f" >&2; exit 125; fi
exit 0`;

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('compose check', () => {
  it('should skip with one line saying what to install when only a docker client without compose is there', () => {
    const result = check(pathWith({ docker: dockerWithoutCompose }), false);
    expect(result.status).toBe(0);
    expect(result.output.trim()).toBe(
      'docker-compose.yml not validated: install docker-compose (or the docker compose plugin) to check it',
    );
  });

  it('should fail in CI when nothing can validate the file', () => {
    const result = check(pathWith({ docker: dockerWithoutCompose }), true);
    expect(result.status).toBe(1);
    expect(result.output).toContain('CI must validate docker-compose.yml');
  });

  it('should fail when a working client finds the file invalid', () => {
    const compose = `
if [ "$1" = version ]; then echo 'docker-compose version 1.29.2'; exit 0; fi
echo 'services.api.ports is invalid' >&2; exit 1`;
    const result = check(pathWith({ 'docker-compose': compose, docker: dockerWithoutCompose }), false);
    expect(result.status).toBe(1);
    expect(result.output).toContain('docker-compose.yml is invalid (docker-compose config)');
    expect(result.output).toContain('services.api.ports is invalid');
  });

  it('should use the compose plugin when docker has it', () => {
    const docker = `
if [ "$1" = compose ] && [ "$2" = version ]; then echo 'Docker Compose version v2.29.0'; exit 0; fi
if [ "$1" = compose ] && [ "$2" = -f ] && [ "$4" = config ]; then exit 0; fi
exit 2`;
    const result = check(pathWith({ docker }), true);
    expect(result.status).toBe(0);
    expect(result.output.trim()).toBe('docker-compose.yml is valid (docker compose config)');
  });
});
