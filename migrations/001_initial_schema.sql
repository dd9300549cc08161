-- Up Migration
--
-- The system of record for money. Every amount of money is a bigint in micro-dollars (1 USD =
-- 1,000,000 micros), the one minor unit of this project (see src/domain/money.ts). Usage quantities are
-- exact decimals in the metric's billing unit. Invariants live here, in the database, so no code path
-- can break them: unique idempotency keys, one usage row per customer+cluster+day, checked enums.

CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;

-- Hopsworks clusters on Kubernetes that customers are assigned to.
CREATE TABLE clusters (
  id                text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  hopsworks_api_url text NOT NULL CHECK (hopsworks_api_url ~ '^https?://'),
  -- API key of the Hopsworks admin user; read by activities only, never returned by the API.
  hopsworks_api_key text,
  kube_context      text,
  kubeconfig_path   text,
  capacity          integer NOT NULL DEFAULT 100 CHECK (capacity >= 0),
  active            boolean NOT NULL DEFAULT true,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER clusters_updated_at BEFORE UPDATE ON clusters FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE customers (
  id                     text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
  auth_subject           text NOT NULL UNIQUE CHECK (length(auth_subject) BETWEEN 1 AND 255),
  email                  text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
  billing_mode           text NOT NULL DEFAULT 'postpaid' CHECK (billing_mode IN ('postpaid', 'prepaid')),
  -- The seed's `enable_prepaid` flag: prepaid is only possible when an admin enabled it.
  prepaid_enabled        boolean NOT NULL DEFAULT false,
  status                 text NOT NULL DEFAULT 'pending' CHECK (status IN (
                           'pending', 'provisioning', 'awaiting_capacity', 'provisioning_failed',
                           'awaiting_payment_method', 'active', 'past_due', 'suspended', 'canceled')),
  stripe_customer_id     text UNIQUE CHECK (stripe_customer_id ~ '^cus_'),
  stripe_subscription_id text UNIQUE CHECK (stripe_subscription_id ~ '^sub_'),
  cluster_id             text REFERENCES clusters (id),
  plan                   text NOT NULL DEFAULT 'pay_as_you_go' CHECK (length(plan) BETWEEN 1 AND 64),
  grace_period_exempt    boolean NOT NULL DEFAULT false,
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now(),
  CHECK (billing_mode = 'postpaid' OR prepaid_enabled)
);
CREATE INDEX customers_cluster_id ON customers (cluster_id);
CREATE INDEX customers_status ON customers (status);
CREATE TRIGGER customers_updated_at BEFORE UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The price book (the seed's `stripe_products`): one active price per metric.
CREATE TABLE prices (
  id                      bigserial PRIMARY KEY,
  metric                  text NOT NULL CHECK (metric IN (
                            'cpu_hours', 'gpu_hours', 'memory_gb_hours', 'storage_gb_month', 'api_calls', 'credits')),
  -- Price of `unit_quantity` units, e.g. 10,000 micros per 1,000 API calls.
  unit_price_micros       bigint NOT NULL CHECK (unit_price_micros >= 0),
  unit_quantity           bigint NOT NULL DEFAULT 1 CHECK (unit_quantity > 0),
  unit_label              text NOT NULL,
  currency                text NOT NULL DEFAULT 'usd' CHECK (currency ~ '^[a-z]{3}$'),
  stripe_product_id       text CHECK (stripe_product_id ~ '^prod_'),
  stripe_price_id         text CHECK (stripe_price_id ~ '^price_'),
  stripe_meter_id         text CHECK (stripe_meter_id ~ '^mtr_'),
  stripe_meter_event_name text,
  active                  boolean NOT NULL DEFAULT true,
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX prices_one_active_per_metric ON prices (metric) WHERE active;
CREATE TRIGGER prices_updated_at BEFORE UPDATE ON prices FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The seed's price book. Memory is measured and shown but not charged until an admin prices it.
INSERT INTO prices (metric, unit_price_micros, unit_quantity, unit_label, stripe_meter_event_name) VALUES
  ('cpu_hours',        100000,  1,    'CPU hour',        'cpu_hours'),
  ('gpu_hours',        2000000, 1,    'GPU hour',        'gpu_hours'),
  ('memory_gb_hours',  0,       1,    'memory GB-hour',  'memory_gb_hours'),
  ('storage_gb_month', 150000,  1,    'storage GB-month', 'storage_gb_month'),
  ('api_calls',        10000,   1000, '1,000 API calls', 'api_calls'),
  ('credits',          1000000, 1,    'credit',          NULL);

-- Per-customer prices: an override unit price and/or a discount, for a window of time.
CREATE TABLE pricing_overrides (
  id                         bigserial PRIMARY KEY,
  customer_id                text NOT NULL REFERENCES customers (id),
  metric                     text NOT NULL CHECK (metric IN (
                               'cpu_hours', 'gpu_hours', 'memory_gb_hours', 'storage_gb_month', 'api_calls')),
  override_unit_price_micros bigint CHECK (override_unit_price_micros >= 0),
  -- Discount in basis points: 5000 = 50 %, 1250 = 12.5 %.
  discount_basis_points      integer CHECK (discount_basis_points BETWEEN 0 AND 10000),
  reason                     text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
  valid_from                 timestamptz NOT NULL DEFAULT now(),
  valid_until                timestamptz,
  created_by                 text NOT NULL,
  created_at                 timestamptz NOT NULL DEFAULT now(),
  CHECK (override_unit_price_micros IS NOT NULL OR discount_basis_points IS NOT NULL),
  CHECK (valid_until IS NULL OR valid_until > valid_from)
);
CREATE INDEX pricing_overrides_customer ON pricing_overrides (customer_id, metric, valid_from);

-- What Kubernetes was observed running (one row per namespace per sample).
CREATE TABLE usage_samples (
  id            bigserial PRIMARY KEY,
  customer_id   text NOT NULL REFERENCES customers (id),
  cluster_id    text NOT NULL REFERENCES clusters (id),
  namespace     text NOT NULL,
  observed_at   timestamptz NOT NULL,
  cpu_millicores bigint NOT NULL DEFAULT 0 CHECK (cpu_millicores >= 0),
  gpus          integer NOT NULL DEFAULT 0 CHECK (gpus >= 0),
  memory_bytes  bigint NOT NULL DEFAULT 0 CHECK (memory_bytes >= 0),
  storage_bytes bigint NOT NULL DEFAULT 0 CHECK (storage_bytes >= 0),
  pods          integer NOT NULL DEFAULT 0 CHECK (pods >= 0),
  UNIQUE (cluster_id, namespace, observed_at)
);
CREATE INDEX usage_samples_customer_time ON usage_samples (customer_id, observed_at);

-- One row per customer, cluster and day: quantities, their cost, and where the money went.
CREATE TABLE usage_daily (
  id                     bigserial PRIMARY KEY,
  customer_id            text NOT NULL REFERENCES customers (id),
  cluster_id             text NOT NULL REFERENCES clusters (id),
  usage_date             date NOT NULL,
  billing_mode           text NOT NULL CHECK (billing_mode IN ('postpaid', 'prepaid')),
  cpu_hours              numeric(24, 9) NOT NULL DEFAULT 0 CHECK (cpu_hours >= 0),
  gpu_hours              numeric(24, 9) NOT NULL DEFAULT 0 CHECK (gpu_hours >= 0),
  memory_gb_hours        numeric(24, 9) NOT NULL DEFAULT 0 CHECK (memory_gb_hours >= 0),
  storage_gb_month       numeric(24, 9) NOT NULL DEFAULT 0 CHECK (storage_gb_month >= 0),
  api_calls              bigint NOT NULL DEFAULT 0 CHECK (api_calls >= 0),
  cpu_cost_micros        bigint NOT NULL DEFAULT 0 CHECK (cpu_cost_micros >= 0),
  gpu_cost_micros        bigint NOT NULL DEFAULT 0 CHECK (gpu_cost_micros >= 0),
  memory_cost_micros     bigint NOT NULL DEFAULT 0 CHECK (memory_cost_micros >= 0),
  storage_cost_micros    bigint NOT NULL DEFAULT 0 CHECK (storage_cost_micros >= 0),
  api_calls_cost_micros  bigint NOT NULL DEFAULT 0 CHECK (api_calls_cost_micros >= 0),
  total_cost_micros      bigint NOT NULL DEFAULT 0,
  collected_at           timestamptz NOT NULL DEFAULT now(),
  -- Postpaid rows are reported to Stripe meters; prepaid rows are charged to the credit ledger.
  reported_to_stripe_at  timestamptz,
  charged_at             timestamptz,
  UNIQUE (customer_id, cluster_id, usage_date),
  CHECK (total_cost_micros = cpu_cost_micros + gpu_cost_micros + memory_cost_micros
                             + storage_cost_micros + api_calls_cost_micros),
  CHECK (reported_to_stripe_at IS NULL OR billing_mode = 'postpaid'),
  CHECK (charged_at IS NULL OR billing_mode = 'prepaid')
);
CREATE INDEX usage_daily_date ON usage_daily (usage_date);
CREATE INDEX usage_daily_unreported ON usage_daily (usage_date) WHERE billing_mode = 'postpaid' AND reported_to_stripe_at IS NULL;

-- Billing Meter events sent (or to be sent) to Stripe; the identifier is Stripe's idempotency key.
CREATE TABLE meter_reports (
  id              bigserial PRIMARY KEY,
  usage_daily_id  bigint NOT NULL REFERENCES usage_daily (id),
  customer_id     text NOT NULL REFERENCES customers (id),
  metric          text NOT NULL CHECK (metric IN (
                    'cpu_hours', 'gpu_hours', 'memory_gb_hours', 'storage_gb_month', 'api_calls')),
  identifier      text NOT NULL UNIQUE,
  event_name      text NOT NULL,
  value           bigint NOT NULL CHECK (value >= 0),
  event_timestamp timestamptz NOT NULL,
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'expired')),
  sent_at         timestamptz,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (usage_daily_id, metric),
  CHECK (status <> 'sent' OR sent_at IS NOT NULL)
);

-- Prepaid credits: append-only; the balance is the sum of amount_micros for a customer.
CREATE TABLE credit_ledger (
  id               bigserial PRIMARY KEY,
  customer_id      text NOT NULL REFERENCES customers (id),
  kind             text NOT NULL CHECK (kind IN (
                     'purchase', 'grant', 'usage', 'refill', 'refund', 'expiry', 'adjustment')),
  amount_micros    bigint NOT NULL CHECK (amount_micros <> 0),
  idempotency_key  text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 255),
  actor            text NOT NULL,
  reason           text,
  -- A grant or purchase may expire; what is left of it then leaves through an `expiry` entry.
  expires_at       timestamptz,
  -- The grant an `expiry` entry closes, or the entry a `refund` reverses.
  source_entry_id  bigint REFERENCES credit_ledger (id),
  stripe_reference text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CHECK (kind NOT IN ('purchase', 'grant', 'refill') OR amount_micros > 0),
  CHECK (kind NOT IN ('usage', 'expiry') OR amount_micros < 0),
  CHECK (expires_at IS NULL OR kind IN ('purchase', 'grant', 'refill'))
);
CREATE INDEX credit_ledger_customer ON credit_ledger (customer_id, created_at);

-- Ledger entries are history: they are never updated or deleted. Corrections are new entries.
CREATE FUNCTION forbid_update_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: add a new entry instead', TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER credit_ledger_append_only BEFORE UPDATE OR DELETE ON credit_ledger
  FOR EACH ROW EXECUTE FUNCTION forbid_update_delete();

CREATE TABLE invoices (
  id                    bigserial PRIMARY KEY,
  stripe_invoice_id     text NOT NULL UNIQUE CHECK (stripe_invoice_id ~ '^in_'),
  customer_id           text NOT NULL REFERENCES customers (id),
  period_start          timestamptz NOT NULL,
  period_end            timestamptz NOT NULL,
  status                text NOT NULL CHECK (status IN ('draft', 'open', 'paid', 'uncollectible', 'void')),
  currency              text NOT NULL DEFAULT 'usd' CHECK (currency ~ '^[a-z]{3}$'),
  amount_due_micros     bigint NOT NULL DEFAULT 0 CHECK (amount_due_micros >= 0),
  amount_paid_micros    bigint NOT NULL DEFAULT 0 CHECK (amount_paid_micros >= 0),
  -- What the ledger says the period cost, and whether Stripe's invoice agrees.
  ledger_total_micros   bigint,
  reconciliation_status text NOT NULL DEFAULT 'pending' CHECK (reconciliation_status IN (
                          'pending', 'matched', 'adjusted', 'mismatch')),
  reconciliation_note   text,
  hosted_invoice_url    text,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  CHECK (period_end >= period_start)
);
CREATE INDEX invoices_customer_period ON invoices (customer_id, period_start);
CREATE TRIGGER invoices_updated_at BEFORE UPDATE ON invoices FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Every Stripe event received: deduplication by event id, and the audit trail of what Stripe said.
CREATE TABLE stripe_events (
  id                 text PRIMARY KEY CHECK (id ~ '^evt_'),
  type               text NOT NULL,
  livemode           boolean NOT NULL,
  api_version        text,
  stripe_created_at  timestamptz NOT NULL,
  stripe_customer_id text,
  customer_id        text REFERENCES customers (id),
  payload            jsonb NOT NULL,
  status             text NOT NULL DEFAULT 'received' CHECK (status IN (
                       'received', 'signalled', 'ignored', 'unroutable', 'failed')),
  error              text,
  received_at        timestamptz NOT NULL DEFAULT now(),
  processed_at       timestamptz
);
CREATE INDEX stripe_events_customer ON stripe_events (customer_id, stripe_created_at);
CREATE INDEX stripe_events_attention ON stripe_events (received_at) WHERE status IN ('unroutable', 'failed');

-- Every admin action, with who did it and why.
CREATE TABLE audit_log (
  id          bigserial PRIMARY KEY,
  actor       text NOT NULL CHECK (length(actor) BETWEEN 1 AND 255),
  action      text NOT NULL CHECK (length(action) BETWEEN 1 AND 100),
  customer_id text REFERENCES customers (id),
  reason      text,
  details     jsonb NOT NULL DEFAULT '{}'::jsonb,
  request_id  text,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_customer ON audit_log (customer_id, created_at);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION forbid_update_delete();
