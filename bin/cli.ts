import { ConfigError } from '../src/config.js';

// Each command loads its modules when it runs: `worker` and `api` never load `dev`'s sandbox (the
// fakes of test/, which need devDependencies), so the compiled build runs them on production
// dependencies alone.
const production = () => import('./commands/production.js');

const COMMANDS: Record<string, { describe: string; run: (env: NodeJS.ProcessEnv) => Promise<unknown> }> = {
  dev: {
    describe: 'everything on this machine: Temporal dev server + UI, Postgres, worker, API',
    run: async (env) => (await import('./commands/dev.js')).devCommand(env),
  },
  demo: {
    describe: 'drive one customer through the running sandbox, signup to active subscription',
    run: async (env) => (await import('./commands/demo.js')).demoCommand(env),
  },
  worker: {
    describe: 'the Temporal worker (production)',
    run: async (env) => (await production()).workerCommand(env),
  },
  api: { describe: 'the HTTP API (production)', run: async (env) => (await production()).apiCommand(env) },
  migrate: {
    describe: 'apply database migrations and exit',
    run: async (env) => (await production()).migrateCommand(env),
  },
  'setup-temporal': {
    describe: 'register search attributes and create or update the schedules, then exit',
    run: async (env) => (await production()).setupTemporalCommand(env),
  },
  canary: {
    describe: 'run a canary workflow through a running worker and print its result',
    run: async (env) => console.log(JSON.stringify(await (await production()).canaryCommand(env))),
  },
  'install-servers': {
    describe: 'build the Temporal CLI, the time-skipping test server and stripe-mock into .cache/',
    run: async () => (await import('./servers/install.js')).installAllServers(),
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  return [
    'usage: npm run cli -- <command>',
    '',
    ...Object.entries(COMMANDS).map(([name, { describe }]) => `  ${name.padEnd(width)}  ${describe}`),
  ].join('\n');
}

async function main(): Promise<void> {
  const name = process.argv[2];
  const command = name ? COMMANDS[name] : undefined;
  if (!command) {
    console.error(name ? `unknown command: ${name}\n\n${usage()}` : usage());
    process.exit(2);
  }
  try {
    await command.run(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      // A configuration mistake is the operator's to fix: a clear list, no stack trace.
      console.error(error.message);
      process.exit(78); // EX_CONFIG
    }
    console.error(`${name} failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}

void main();
