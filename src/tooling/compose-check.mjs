// Validates docker-compose.yml with `docker-compose config` (no Docker engine needed). Placeholder
// values stand in for the required secrets, which have no defaults in the file.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const placeholders = {
  POSTGRES_PASSWORD: 'placeholder',
  AUTH0_WEBHOOK_SECRET: 'placeholder',
  CRON_SECRET: 'placeholder',
  ADMIN_CREDENTIALS: 'placeholder',
};
const candidates = [
  ['docker-compose', []],
  ['docker', ['compose']],
];
for (const [command, prefix] of candidates) {
  const result = spawnSync(
    command,
    [...prefix, '-f', join(root, 'docker-compose.yml'), 'config', '--quiet'],
    {
      env: { ...process.env, ...placeholders },
      encoding: 'utf8',
    },
  );
  if (result.error) continue; // not installed: try the next client
  if (result.status !== 0 && /is not a docker command|unknown command/i.test(result.stderr)) continue;
  if (result.status !== 0) {
    console.error(`docker-compose.yml is invalid (${command} ${prefix.join(' ')} config):\n${result.stderr}`);
    process.exit(1);
  }
  console.log(`docker-compose.yml is valid (${[command, ...prefix].join(' ')} config)`);
  process.exit(0);
}
if (process.env.CI) {
  console.error('docker-compose is not installed: CI must validate docker-compose.yml (.ci/run installs it)');
  process.exit(1);
}
console.log('docker-compose.yml not validated: neither docker-compose nor docker compose is installed');
