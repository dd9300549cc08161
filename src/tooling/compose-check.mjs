// Validates docker-compose.yml with `docker-compose config` (no Docker engine needed). Placeholder
// values stand in for the required secrets, which have no defaults in the file.
//
// A client counts only when it answers `version`: a `docker` client without the compose plugin
// parses `docker compose -f …` as its own flags ("unknown shorthand flag: 'f' in -f"), which says
// nothing about the file. Outside CI, no usable client is a skip with one line saying what to
// install; CI (.ci/run installs docker-compose) must validate for real.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const placeholders = {
  POSTGRES_PASSWORD: 'placeholder',
  AUTH0_WEBHOOK_SECRET: 'placeholder',
  CRON_SECRET: 'placeholder',
  ADMIN_CREDENTIALS: 'placeholder',
  METRICS_TOKEN: 'placeholder',
  GRAFANA_ADMIN_PASSWORD: 'placeholder',
};
const candidates = [
  ['docker-compose', []],
  ['docker', ['compose']],
];
const run = (command, args) =>
  spawnSync(command, args, { env: { ...process.env, ...placeholders }, encoding: 'utf8' });

for (const [command, prefix] of candidates) {
  const name = [command, ...prefix].join(' ');
  const probe = run(command, [...prefix, 'version']);
  if (probe.error || probe.status !== 0) continue; // not installed, or docker without the compose plugin
  const result = run(command, [...prefix, '-f', join(root, 'docker-compose.yml'), 'config', '--quiet']);
  if (result.status !== 0) {
    console.error(`docker-compose.yml is invalid (${name} config):\n${result.stderr}`);
    process.exit(1);
  }
  console.log(`docker-compose.yml is valid (${name} config)`);
  process.exit(0);
}
if (process.env.CI) {
  console.error('docker-compose is not installed: CI must validate docker-compose.yml (.ci/run installs it)');
  process.exit(1);
}
console.log(
  'docker-compose.yml not validated: install docker-compose (or the docker compose plugin) to check it',
);
