import proxyAddr from 'proxy-addr';
import { z } from 'zod';
import { dollarsToMicros } from './domain/money.js';
import { Secret } from './secret.js';

/** The process roles that read configuration; each requires its own set of settings. */
export type Role = 'dev' | 'api' | 'worker' | 'migrate' | 'setup-temporal';

/**
 * Workflows one worker keeps in memory (each about 220 KiB): 1,000 keeps a worker serving 5,000 open
 * customers under 1 GB (docs/benchmarks.md); evicted workflows are replayed when an event reaches them.
 */
export const DEFAULT_WORKER_CACHE = 1_000;
/**
 * Requests per minute: per credential of each kind of caller, and per client address over all of them.
 * Generous for people and scripts (a billing page makes a handful of calls, an admin script a few a
 * second, the seed's crons a few a day); their job is to stop floods and token guessing.
 */
export const DEFAULT_RATE_LIMITS = {
  customer: 300,
  admin: 1_200,
  cron: 60,
  service: 60_000,
  ip: 3_000,
} as const;
/**
 * Meter events the Stripe sync sends per second, by default Stripe's documented limit for the account's
 * mode (docs.stripe.com/rate-limits): in live mode, calls to the v1 Meter events endpoint have a limit of
 * their own, 1,000 a second per account, outside the basic limits; in test mode (sandboxes) the basic
 * limit of 25 operations a second applies (also every endpoint's default). Requests are spaced to stay
 * under it; a 429 pauses the sync (src/usage/stripe-sync.ts). In test mode the sync shares those 25 with
 * every other call of the installation, so set `STRIPE_METER_EVENTS_PER_SECOND` lower when the sync runs
 * beside heavy traffic.
 */
export const DEFAULT_METER_EVENTS_PER_SECOND = { live: 1_000, test: 25 } as const;
/**
 * Requests per second to the v2 meter event stream (up to 100 events each), by default Stripe's
 * documented limit: 10,000 a second in live mode (docs.stripe.com/api/v2/billing-meter-stream); in test
 * mode and sandboxes, stream calls count toward the basic limit of 25 a second
 * (docs.stripe.com/billing/subscriptions/usage-based/recording-usage-api, Rate limits).
 */
export const DEFAULT_METER_STREAM_REQUESTS_PER_SECOND = { live: 10_000, test: 25 } as const;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const LOG_FORMATS = ['json', 'pretty'] as const;
/** How often the billing gauges are read from Postgres (src/metrics.ts), in seconds. */
export const DEFAULT_METRICS_INTERVAL_SECONDS = 60;

const secret = (minLength: number, pattern?: { regex: RegExp; hint: string }) =>
  z
    .string()
    .min(minLength, { message: `must be at least ${minLength} characters` })
    .refine((value) => !pattern || pattern.regex.test(value), {
      message: pattern ? `must ${pattern.hint}` : 'invalid',
    })
    .transform((value) => new Secret(value));

const clockTime = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, { message: 'must be a UTC time of day as HH:MM, e.g. 02:00' })
  .transform((value) => {
    const [hour, minute] = value.split(':').map(Number) as [number, number];
    return { hour, minute };
  });

/** A positive USD amount such as `10000` or `12.50` (at most 6 decimals), kept as micro-dollars. */
const usdAmount = z
  .string()
  .regex(/^\d{1,9}(\.\d{1,6})?$/, { message: 'must be a USD amount such as 10000 or 12.50' })
  .transform((value) => dollarsToMicros(value))
  .refine((micros) => micros > 0n, { message: 'must be greater than zero' });

const hostPort = z
  .string()
  .regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, { message: 'must be host:port, e.g. 127.0.0.1:7233' });

const postgresUrl = z
  .string()
  .refine((value) => /^postgres(ql)?:\/\/[^\s]+$/.test(value) && URL.canParse(value), {
    message: 'must be a postgres:// or postgresql:// URL',
  });

const httpUrl = z.string().refine((value) => /^https?:\/\//.test(value) && URL.canParse(value), {
  message: 'must be an http(s) URL',
});

/** Requests one credential or one client address may make per minute (abuse limits, not quotas). */
const perMinute = (fallback: number) => z.coerce.number().int().min(1).max(1_000_000).default(fallback);

/**
 * Reverse proxies whose X-Forwarded-For is believed: addresses, CIDR ranges, or proxy-addr's names
 * `loopback`, `linklocal`, `uniquelocal`. proxy-addr (Express's) compiles and applies the list.
 */
const trustedProxies = z.string().transform((value, ctx) => {
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  try {
    proxyAddr.compile(entries);
  } catch {
    ctx.addIssue({
      code: 'custom',
      message:
        'must be a comma-separated list of IP addresses, CIDR ranges, loopback, linklocal or uniquelocal',
    });
    return z.NEVER;
  }
  return entries;
});

const actorCredentials = z.string().transform((value, ctx) => {
  const entries = value.split(',').map((entry) => entry.trim());
  const credentials: AdminCredential[] = [];
  for (const entry of entries) {
    const separator = entry.indexOf(':');
    const actor = separator > 0 ? entry.slice(0, separator) : '';
    const token = separator > 0 ? entry.slice(separator + 1) : '';
    if (!/^[A-Za-z0-9._@-]{1,64}$/.test(actor) || token.length < 32) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be a comma-separated list of actor:token, tokens at least 32 characters',
      });
      return z.NEVER;
    }
    credentials.push({ actor, token: new Secret(token) });
  }
  return credentials;
});

const schema = z.object({
  DATABASE_URL: postgresUrl.optional(),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(20),

  TEMPORAL_ADDRESS: hostPort.default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('billing'),
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(1).max(100_000).default(DEFAULT_WORKER_CACHE),
  WORKER_HEALTH_ADDRESS: hostPort.default('0.0.0.0:9091'),
  WORKER_METRICS_ADDRESS: hostPort.optional(),
  METRICS_TOKEN: secret(32).optional(),
  METRICS_INTERVAL_SECONDS: z.coerce
    .number()
    .int()
    .min(5)
    .max(3600)
    .default(DEFAULT_METRICS_INTERVAL_SECONDS),
  TEMPORAL_TLS: z.stringbool().default(false),
  TEMPORAL_API_KEY: secret(16).optional(),
  TEMPORAL_UI_URL: httpUrl.optional(),

  STRIPE_SECRET_KEY: secret(16, {
    regex: /^(sk|rk)_live_/,
    hint: 'start with sk_live_ or rk_live_ (test keys go in STRIPE_TEST_SECRET_KEY)',
  }).optional(),
  STRIPE_WEBHOOK_SECRET: secret(16, { regex: /^whsec_/, hint: 'start with whsec_' }).optional(),
  STRIPE_TEST_SECRET_KEY: secret(16, {
    regex: /^(sk|rk)_test_/,
    hint: 'start with sk_test_ or rk_test_',
  }).optional(),
  STRIPE_TEST_WEBHOOK_SECRET: secret(16, { regex: /^whsec_/, hint: 'start with whsec_' }).optional(),
  STRIPE_EVENT_DESTINATION_SECRET: secret(16, { regex: /^whsec_/, hint: 'start with whsec_' }).optional(),
  STRIPE_API_URL: httpUrl.optional(),
  STRIPE_METER_EVENTS_PER_SECOND: z.coerce.number().int().min(1).max(10_000).optional(),
  STRIPE_METER_API: z.enum(['v2', 'v1']).default('v2'),
  STRIPE_METER_STREAM_RATE: z.coerce.number().int().min(1).max(100_000).optional(),

  AUTH0_WEBHOOK_SECRET: secret(32).optional(),
  AUTH0_JWKS_URL: httpUrl.optional(),
  AUTH0_ISSUER: httpUrl.optional(),
  AUTH0_AUDIENCE: z.string().min(1).optional(),
  AUTH0_CLIENT_ID: z.string().min(1).max(200).optional(),
  SESSION_SECRET: secret(32).optional(),

  CRON_SECRET: secret(32).optional(),
  ADMIN_CREDENTIALS: actorCredentials.optional(),
  SERVICE_CREDENTIALS: actorCredentials.optional(),

  GRACE_PERIOD_DAYS: z.coerce.number().int().min(0).max(90).default(7),
  CREDIT_GRANT_MAX_USD: usdAmount.prefault('10000'),
  CREDIT_PURCHASE_MIN_USD: usdAmount.prefault('5'),
  CREDIT_PURCHASE_MAX_USD: usdAmount.prefault('10000'),
  LOW_BALANCE_THRESHOLD_USD: usdAmount.prefault('10'),
  NOTIFICATION_WEBHOOK_URL: httpUrl.optional(),
  NOTIFICATION_WEBHOOK_SECRET: secret(32).optional(),
  USAGE_COLLECTION_TIME: clockTime.prefault('02:00'),
  STRIPE_SYNC_TIME: clockTime.prefault('03:00'),

  RATE_LIMIT_CUSTOMER_PER_MINUTE: perMinute(DEFAULT_RATE_LIMITS.customer),
  RATE_LIMIT_ADMIN_PER_MINUTE: perMinute(DEFAULT_RATE_LIMITS.admin),
  RATE_LIMIT_CRON_PER_MINUTE: perMinute(DEFAULT_RATE_LIMITS.cron),
  RATE_LIMIT_SERVICE_PER_MINUTE: perMinute(DEFAULT_RATE_LIMITS.service),
  RATE_LIMIT_IP_PER_MINUTE: perMinute(DEFAULT_RATE_LIMITS.ip),
  TRUSTED_PROXIES: trustedProxies.optional(),

  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: z.coerce.number().int().min(1).max(65535).default(3000),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  LOG_FORMAT: z.enum(LOG_FORMATS).optional(),

  DEV_DATA_DIR: z.string().min(1).default('.data'),
  DEV_POSTGRES_PORT: z.coerce.number().int().min(1).max(65535).default(5433),
  DEV_TEMPORAL_UI_PORT: z.coerce.number().int().min(1).max(65535).default(8233),
});

export interface AdminCredential {
  actor: string;
  token: Secret;
}

type Parsed = z.infer<typeof schema>;

export interface Config {
  database: { url: string | undefined; poolMax: number };
  temporal: {
    address: string;
    namespace: string;
    taskQueue: string;
    /** Workflows the worker keeps in memory; the others are replayed from history when they wake. */
    maxCachedWorkflows: number;
    /** Where the `worker` role answers its health check (`GET /healthz`). */
    workerHealthAddress: string;
    /**
     * Where the `worker` role serves `GET /metrics` when set: this process's metrics and the Temporal
     * runtime's (src/metrics-server.ts).
     */
    workerMetricsAddress: string | undefined;
    tls: boolean;
    apiKey: Secret | undefined;
    /** The Temporal Web UI, for links to a customer's workflow (the admin console); none when unset. */
    uiUrl: string | undefined;
  };
  stripe: {
    live: { secretKey: Secret | undefined; webhookSecret: Secret | undefined };
    test: { secretKey: Secret | undefined; webhookSecret: Secret | undefined };
    /**
     * The signing secret of the event destination (thin events) that receives meter error reports, in
     * the mode of the installation's key; without it `POST /api/webhooks/stripe/events` answers 404.
     */
    eventDestinationSecret: Secret | undefined;
    apiUrl: string | undefined;
    /** The Stripe sync's meter events per second (DEFAULT_METER_EVENTS_PER_SECOND of the key's mode). */
    meterEventsPerSecond: number;
    /** Which meter API the sync uses: the v2 meter event stream (default) or v1 meter events. */
    meterApi: 'v2' | 'v1';
    /** v2 stream requests per second (DEFAULT_METER_STREAM_REQUESTS_PER_SECOND of the key's mode). */
    meterStreamRequestsPerSecond: number;
  };
  auth0: {
    webhookSecret: Secret | undefined;
    jwksUrl: string | undefined;
    issuer: string | undefined;
    audience: string | undefined;
    /** The OAuth client id Hopsworks knows the identity provider by. */
    clientId: string | undefined;
  };
  /**
   * Signs the session cookies of the billing page and the admin console (api/pages/); without it those
   * pages answer 503. Never defaulted: `dev` generates one into its local secrets.
   */
  session: { secret: Secret | undefined };
  cronSecret: Secret | undefined;
  adminCredentials: AdminCredential[];
  /**
   * The platform's services (SERVICE_CREDENTIALS, actor:token like the admins'): they ask for
   * entitlements and report usage events, and may do nothing else.
   */
  serviceCredentials: AdminCredential[];
  billing: { gracePeriodDays: number };
  /**
   * Prepaid credits, in micro-dollars as decimal strings (the configuration stays JSON): the most one
   * admin grant may add, and the range of one purchase.
   */
  credits: {
    maxGrantMicros: string;
    minPurchaseMicros: string;
    maxPurchaseMicros: string;
    /** Customers without their own threshold are told when their balance falls under this. */
    lowBalanceThresholdMicros: string;
  };
  /** Where the notification outbox is delivered; without a URL the rows only wait in the table. */
  notifications: { webhookUrl: string | undefined; webhookSecret: Secret | undefined };
  schedules: {
    usageCollection: { hour: number; minute: number };
    stripeSync: { hour: number; minute: number };
  };
  /**
   * Abuse limits of the customer, admin, cron (and entitlement) routes, per minute: per credential and
   * per client address. The client address is the socket's, or X-Forwarded-For's when the socket is one
   * of `trustedProxies`.
   */
  rateLimits: {
    perMinute: { customer: number; admin: number; cron: number; service: number; ip: number };
    trustedProxies: string[];
  };
  /**
   * Prometheus metrics: the bearer token `GET /metrics` takes (the API serves none without it; the
   * worker's metrics address takes it when set), and how often the billing gauges are read from Postgres.
   */
  metrics: { token: Secret | undefined; intervalSeconds: number };
  http: { host: string; port: number };
  logLevel: (typeof LOG_LEVELS)[number];
  /** JSON lines (`worker`, `api`) or human-readable lines (`dev`), unless LOG_FORMAT says otherwise. */
  logFormat: (typeof LOG_FORMATS)[number];
  /** Only `dev` reads these: where the embedded servers keep their files and listen. */
  dev: { dataDir: string; postgresPort: number; temporalUiPort: number };
}

/** What each role cannot start without. Everything else is optional or has a non-secret default. */
const REQUIRED: Record<Role, (keyof Parsed)[]> = {
  dev: [],
  'setup-temporal': [],
  migrate: ['DATABASE_URL'],
  worker: ['DATABASE_URL', 'AUTH0_CLIENT_ID'],
  api: ['DATABASE_URL', 'CRON_SECRET', 'ADMIN_CREDENTIALS', 'AUTH0_WEBHOOK_SECRET'],
};

export interface ConfigProblem {
  field: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((problem) => `  ${problem.field}: ${problem.message}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

/**
 * Parses configuration from environment variables. Throws a ConfigError naming every bad or missing
 * field at once; messages never contain the values, so they are safe to print.
 */
export function loadConfig(env: Record<string, string | undefined>, role: Role): Config {
  // An empty variable (`FOO=` or compose's `${FOO:-}`) means "not set".
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const result = schema.safeParse(present);
  const problems: ConfigProblem[] = result.success
    ? []
    : result.error.issues.map((issue) => ({
        field: String(issue.path[0] ?? '(root)'),
        message: issue.message,
      }));

  const failed = new Set(problems.map((problem) => problem.field));
  for (const field of REQUIRED[role]) {
    if (present[field] === undefined && !failed.has(field)) {
      problems.push({ field, message: `is required to run \`${role}\`` });
    }
  }
  if (
    role === 'api' &&
    present.STRIPE_WEBHOOK_SECRET === undefined &&
    present.STRIPE_TEST_WEBHOOK_SECRET === undefined
  ) {
    problems.push({
      field: 'STRIPE_WEBHOOK_SECRET',
      message: 'is required to run `api` (or STRIPE_TEST_WEBHOOK_SECRET for a test-mode installation)',
    });
  }
  if (
    role === 'worker' &&
    present.STRIPE_SECRET_KEY === undefined &&
    present.STRIPE_TEST_SECRET_KEY === undefined
  ) {
    problems.push({
      field: 'STRIPE_SECRET_KEY',
      message: 'is required to run `worker` (or STRIPE_TEST_SECRET_KEY for a test-mode installation)',
    });
  }
  // Customer tokens are checked against the JWKS *and* an issuer and an audience: keys alone would
  // let any token the tenant signs (for another API, or another tenant sharing the key set) in.
  if (present.AUTH0_JWKS_URL !== undefined) {
    for (const field of ['AUTH0_ISSUER', 'AUTH0_AUDIENCE'] as const) {
      if (present[field] === undefined && !failed.has(field)) {
        problems.push({
          field,
          message: 'is required when AUTH0_JWKS_URL is set (customer tokens are checked against it)',
        });
      }
    }
  }
  // Receivers must be able to tell our notifications from forged ones: no URL without a signing secret.
  if (present.NOTIFICATION_WEBHOOK_URL !== undefined && present.NOTIFICATION_WEBHOOK_SECRET === undefined) {
    problems.push({
      field: 'NOTIFICATION_WEBHOOK_SECRET',
      message: 'is required when NOTIFICATION_WEBHOOK_URL is set (it signs every notification)',
    });
  }
  if (result.success && result.data.CREDIT_PURCHASE_MIN_USD > result.data.CREDIT_PURCHASE_MAX_USD) {
    problems.push({ field: 'CREDIT_PURCHASE_MIN_USD', message: 'must not exceed CREDIT_PURCHASE_MAX_USD' });
  }
  if (!result.success || problems.length > 0) {
    throw new ConfigError(problems.sort((a, b) => a.field.localeCompare(b.field)));
  }
  return toConfig(result.data, role);
}

function toConfig(parsed: Parsed, role: Role): Config {
  return {
    database: { url: parsed.DATABASE_URL, poolMax: parsed.DATABASE_POOL_MAX },
    temporal: {
      address: parsed.TEMPORAL_ADDRESS,
      namespace: parsed.TEMPORAL_NAMESPACE,
      taskQueue: parsed.TEMPORAL_TASK_QUEUE,
      maxCachedWorkflows: parsed.WORKER_MAX_CACHED_WORKFLOWS,
      workerHealthAddress: parsed.WORKER_HEALTH_ADDRESS,
      workerMetricsAddress: parsed.WORKER_METRICS_ADDRESS,
      tls: parsed.TEMPORAL_TLS,
      apiKey: parsed.TEMPORAL_API_KEY,
      uiUrl: parsed.TEMPORAL_UI_URL,
    },
    stripe: {
      live: { secretKey: parsed.STRIPE_SECRET_KEY, webhookSecret: parsed.STRIPE_WEBHOOK_SECRET },
      test: { secretKey: parsed.STRIPE_TEST_SECRET_KEY, webhookSecret: parsed.STRIPE_TEST_WEBHOOK_SECRET },
      eventDestinationSecret: parsed.STRIPE_EVENT_DESTINATION_SECRET,
      apiUrl: parsed.STRIPE_API_URL,
      // The live key wins when both are set (src/stripe/client.ts), and with it the live limit.
      meterEventsPerSecond:
        parsed.STRIPE_METER_EVENTS_PER_SECOND ??
        DEFAULT_METER_EVENTS_PER_SECOND[parsed.STRIPE_SECRET_KEY ? 'live' : 'test'],
      meterApi: parsed.STRIPE_METER_API,
      meterStreamRequestsPerSecond:
        parsed.STRIPE_METER_STREAM_RATE ??
        DEFAULT_METER_STREAM_REQUESTS_PER_SECOND[parsed.STRIPE_SECRET_KEY ? 'live' : 'test'],
    },
    auth0: {
      webhookSecret: parsed.AUTH0_WEBHOOK_SECRET,
      jwksUrl: parsed.AUTH0_JWKS_URL,
      issuer: parsed.AUTH0_ISSUER,
      audience: parsed.AUTH0_AUDIENCE,
      clientId: parsed.AUTH0_CLIENT_ID,
    },
    session: { secret: parsed.SESSION_SECRET },
    cronSecret: parsed.CRON_SECRET,
    adminCredentials: parsed.ADMIN_CREDENTIALS ?? [],
    serviceCredentials: parsed.SERVICE_CREDENTIALS ?? [],
    billing: { gracePeriodDays: parsed.GRACE_PERIOD_DAYS },
    credits: {
      maxGrantMicros: parsed.CREDIT_GRANT_MAX_USD.toString(),
      minPurchaseMicros: parsed.CREDIT_PURCHASE_MIN_USD.toString(),
      maxPurchaseMicros: parsed.CREDIT_PURCHASE_MAX_USD.toString(),
      lowBalanceThresholdMicros: parsed.LOW_BALANCE_THRESHOLD_USD.toString(),
    },
    notifications: {
      webhookUrl: parsed.NOTIFICATION_WEBHOOK_URL,
      webhookSecret: parsed.NOTIFICATION_WEBHOOK_SECRET,
    },
    schedules: { usageCollection: parsed.USAGE_COLLECTION_TIME, stripeSync: parsed.STRIPE_SYNC_TIME },
    rateLimits: {
      perMinute: {
        customer: parsed.RATE_LIMIT_CUSTOMER_PER_MINUTE,
        admin: parsed.RATE_LIMIT_ADMIN_PER_MINUTE,
        cron: parsed.RATE_LIMIT_CRON_PER_MINUTE,
        service: parsed.RATE_LIMIT_SERVICE_PER_MINUTE,
        ip: parsed.RATE_LIMIT_IP_PER_MINUTE,
      },
      trustedProxies: parsed.TRUSTED_PROXIES ?? [],
    },
    metrics: { token: parsed.METRICS_TOKEN, intervalSeconds: parsed.METRICS_INTERVAL_SECONDS },
    http: { host: parsed.HOST, port: parsed.PORT },
    logLevel: parsed.LOG_LEVEL,
    logFormat: parsed.LOG_FORMAT ?? (role === 'dev' ? 'pretty' : 'json'),
    dev: {
      dataDir: parsed.DEV_DATA_DIR,
      postgresPort: parsed.DEV_POSTGRES_PORT,
      temporalUiPort: parsed.DEV_TEMPORAL_UI_PORT,
    },
  };
}
