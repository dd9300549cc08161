-- Up Migration
--
-- Plans, their limits and quotas, and the usage events the platform reports.
--
-- usage_metrics: the metric catalog. `collected` metrics come from the daily collection (Kubernetes, the
-- Hopsworks API) into usage_daily; `event` metrics come from the platform through POST /api/usage/events.
-- `integral` metrics count whole things (tokens, calls, tasks): a fractional quantity is refused.
--
-- plans / plan_versions: a plan is a name; what it costs and allows is its version. Versions are never
-- changed: an admin's change is a new version, which becomes the plan's current one; customers keep the
-- version they subscribed to (customers.plan_version_id) until moved to another. NULL in a limit or a
-- quota means unlimited (the API shows the seeds' -1 for limits).
--
-- quota_usage: what each customer used of each event metric in each quota period, counted in the
-- transaction that stores the usage events, so the entitlement check reads one row. A quota on a
-- collected metric (seed 004's API calls are the Hopsworks API's api_calls) counts the period's
-- usage_daily rows instead: it moves once a day, with the collection.
CREATE TABLE usage_metrics (
  metric     text PRIMARY KEY CHECK (metric ~ '^[a-z][a-z0-9_]{0,62}$'),
  unit_label text NOT NULL CHECK (length(unit_label) BETWEEN 1 AND 100),
  source     text NOT NULL CHECK (source IN ('collected', 'event')),
  integral   boolean NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO usage_metrics (metric, unit_label, source, integral) VALUES
  ('cpu_hours',        'CPU hour',          'collected', false),
  ('gpu_hours',        'GPU hour',          'collected', false),
  ('memory_gb_hours',  'memory GB-hour',    'collected', false),
  ('storage_gb_month', 'storage GB-month',  'collected', false),
  ('api_calls',        'API call',          'collected', true),
  -- Seed 004's metered products and seed 003's bandwidth, reported by the platform as they happen.
  ('tokens',           'LLM token',         'event',     true),
  ('scraping_tasks',   'scraping task',     'event',     true),
  ('compute_hours',    'compute hour',      'event',     false),
  ('bandwidth_gb',     'bandwidth GB',      'event',     false);

CREATE TABLE plans (
  code       text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{0,31}$'),
  name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  -- Offered to new customers; a retired plan keeps its subscribers.
  active     boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE plan_versions (
  id                 bigserial PRIMARY KEY,
  plan_code          text NOT NULL REFERENCES plans (code),
  version            integer NOT NULL CHECK (version >= 1),
  -- The monthly base fee, in micro-dollars (whole cents: Stripe charges cents), as a licensed Stripe
  -- price found by its lookup key; a plan without a fee has no base price and no lookup key.
  base_fee_micros    bigint NOT NULL CHECK (base_fee_micros >= 0 AND base_fee_micros % 10000 = 0),
  currency           text NOT NULL DEFAULT 'usd' CHECK (currency ~ '^[a-z]{3}$'),
  stripe_lookup_key  text UNIQUE CHECK (stripe_lookup_key ~ '^[a-z0-9_]{1,200}$'),
  stripe_price_id    text CHECK (stripe_price_id ~ '^price_'),
  -- Whether the plan needs a card and a Stripe subscription (false: FREE, capped by its quotas).
  requires_payment   boolean NOT NULL,
  trial_days         integer NOT NULL DEFAULT 0 CHECK (trial_days BETWEEN 0 AND 730),
  -- Seed 003's resource limits; NULL = unlimited.
  max_services       integer CHECK (max_services >= 0),
  max_memory_mb      integer CHECK (max_memory_mb >= 0),
  max_cpu_cores      numeric(10, 3) CHECK (max_cpu_cores >= 0),
  max_bandwidth_gb   integer CHECK (max_bandwidth_gb >= 0),
  max_storage_gb     integer CHECK (max_storage_gb >= 0),
  -- The metered prices (the price book's metrics) the subscription carries beside the base fee.
  metered_metrics    text[] NOT NULL DEFAULT '{}',
  created_by         text NOT NULL,
  note               text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  UNIQUE (plan_code, version),
  CHECK ((base_fee_micros = 0) = (stripe_lookup_key IS NULL)),
  CHECK (requires_payment OR base_fee_micros = 0)
);
CREATE TRIGGER plan_versions_append_only BEFORE UPDATE OF plan_code, version, base_fee_micros, currency,
  stripe_lookup_key, requires_payment, trial_days, max_services, max_memory_mb, max_cpu_cores,
  max_bandwidth_gb, max_storage_gb, metered_metrics ON plan_versions
  FOR EACH ROW EXECUTE FUNCTION forbid_update_delete();
CREATE TRIGGER plan_versions_no_delete BEFORE DELETE ON plan_versions
  FOR EACH ROW EXECUTE FUNCTION forbid_update_delete();

-- A plan's current version: the newest.
CREATE VIEW current_plan_versions AS
  SELECT DISTINCT ON (plan_code) * FROM plan_versions ORDER BY plan_code, version DESC;

CREATE TABLE plan_quotas (
  plan_version_id bigint NOT NULL REFERENCES plan_versions (id),
  metric          text NOT NULL REFERENCES usage_metrics (metric),
  -- Per quota period; NULL = unlimited (seed 004's 0).
  amount          numeric(24, 9) CHECK (amount >= 0),
  -- hard: the entitlement check refuses past it; soft: it allows and says the quota is exceeded.
  enforcement     text NOT NULL DEFAULT 'hard' CHECK (enforcement IN ('hard', 'soft')),
  -- billing_period: resets at the customer's period boundary; calendar_month: on the 1st, UTC.
  reset           text NOT NULL DEFAULT 'billing_period' CHECK (reset IN ('billing_period', 'calendar_month')),
  PRIMARY KEY (plan_version_id, metric)
);
CREATE TRIGGER plan_quotas_append_only BEFORE UPDATE OR DELETE ON plan_quotas
  FOR EACH ROW EXECUTE FUNCTION forbid_update_delete();

-- Seed 003's plans (limits exactly as it lists them, -1 → NULL), seed 004's Basic, and seed 004's quotas
-- on its Pro and Enterprise, which share seed 003's names. The base fees are this system's defaults,
-- for an admin to set: the seeds keep theirs in Stripe. pay_as_you_go is what every customer had before
-- plans: no fee, every metered price, no limit.
INSERT INTO plans (code, name) VALUES
  ('pay_as_you_go', 'Pay as you go'), ('free', 'Free'), ('starter', 'Starter'), ('basic', 'Basic'),
  ('pro', 'Pro'), ('enterprise', 'Enterprise');

INSERT INTO plan_versions (plan_code, version, base_fee_micros, stripe_lookup_key, requires_payment,
    max_services, max_memory_mb, max_cpu_cores, max_bandwidth_gb, max_storage_gb, metered_metrics, created_by, note)
VALUES
  ('pay_as_you_go', 1, 0,         NULL,             true,  NULL, NULL, NULL, NULL, NULL,
    '{cpu_hours,gpu_hours,memory_gb_hours,storage_gb_month,api_calls}', 'migration', 'before plans'),
  ('free',          1, 0,         NULL,             false, 1,    512,  0.5,  10,   5,    '{}', 'migration', 'seed 003'),
  ('starter',       1, 29000000,  'plan_starter_v1', true, 5,    2048, 2,    100,  50,
    '{cpu_hours,gpu_hours,memory_gb_hours,storage_gb_month,api_calls}', 'migration', 'seed 003'),
  ('basic',         1, 19000000,  'plan_basic_v1',  true,  NULL, NULL, NULL, NULL, NULL,
    '{cpu_hours,gpu_hours,memory_gb_hours,storage_gb_month,api_calls}', 'migration', 'seed 004'),
  ('pro',           1, 99000000,  'plan_pro_v1',    true,  20,   8192, 8,    500,  200,
    '{cpu_hours,gpu_hours,memory_gb_hours,storage_gb_month,api_calls}', 'migration', 'seeds 003 and 004'),
  ('enterprise',    1, 499000000, 'plan_enterprise_v1', true, NULL, NULL, NULL, NULL, NULL,
    '{cpu_hours,gpu_hours,memory_gb_hours,storage_gb_month,api_calls}', 'migration', 'seeds 003 and 004');

-- Seed 004: Basic 100K tokens / 1K API calls / 100 scraping tasks a month, Pro 1M / 10K / 1K, Enterprise
-- unlimited. FREE is capped by quotas instead of a card: seed 003's bandwidth, and Basic's counts.
INSERT INTO plan_quotas (plan_version_id, metric, amount, enforcement)
SELECT v.id, q.metric, q.amount, 'hard'
FROM plan_versions v
JOIN (VALUES
  ('basic', 'tokens', 100000), ('basic', 'api_calls', 1000), ('basic', 'scraping_tasks', 100),
  ('pro', 'tokens', 1000000), ('pro', 'api_calls', 10000), ('pro', 'scraping_tasks', 1000),
  ('enterprise', 'tokens', NULL), ('enterprise', 'api_calls', NULL), ('enterprise', 'scraping_tasks', NULL),
  ('free', 'tokens', 100000), ('free', 'api_calls', 1000), ('free', 'scraping_tasks', 100),
  ('free', 'bandwidth_gb', 10)
) AS q (plan_code, metric, amount) ON q.plan_code = v.plan_code AND v.version = 1;

-- Every customer is on a plan version: pay_as_you_go's first until its workflow chooses another.
CREATE FUNCTION default_plan_version() RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT id FROM plan_versions WHERE plan_code = 'pay_as_you_go' AND version = 1
$$;
ALTER TABLE customers
  ADD COLUMN plan_version_id bigint NOT NULL DEFAULT default_plan_version() REFERENCES plan_versions (id);
CREATE INDEX customers_plan_version ON customers (plan_version_id);

-- Usage events: stored once per idempotency key; `body_hash` tells a retry (same body) from a reuse of
-- the key for something else (refused with 409).
CREATE TABLE usage_events (
  id              bigserial PRIMARY KEY,
  idempotency_key text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 255),
  customer_id     text NOT NULL REFERENCES customers (id),
  metric          text NOT NULL REFERENCES usage_metrics (metric),
  quantity        numeric(24, 9) NOT NULL CHECK (quantity > 0),
  occurred_at     timestamptz NOT NULL,
  -- The quota period the event counts in (its start), decided when it is stored.
  period_start    timestamptz NOT NULL,
  metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
  body_hash       text NOT NULL,
  received_by     text NOT NULL,
  received_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_events_customer_time ON usage_events (customer_id, occurred_at);
CREATE TRIGGER usage_events_append_only BEFORE UPDATE OR DELETE ON usage_events
  FOR EACH ROW EXECUTE FUNCTION forbid_update_delete();

CREATE TABLE quota_usage (
  customer_id  text NOT NULL REFERENCES customers (id),
  metric       text NOT NULL REFERENCES usage_metrics (metric),
  period_start timestamptz NOT NULL,
  used         numeric(24, 9) NOT NULL DEFAULT 0 CHECK (used >= 0),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (customer_id, metric, period_start)
);
