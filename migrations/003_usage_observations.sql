-- Up Migration
--
-- What the Kubernetes usage observer saw (src/usage/kubernetes-usage.ts): one row per pod and one per
-- PersistentVolumeClaim of a customer's namespaces, keyed by the object's uid and upserted by every
-- observation, so a row holds the object's whole life as far as it was seen. A day's CPU, GPU, memory
-- and storage usage is computed from these rows, never from a single snapshot; see that module for
-- the rules. Requests and capacities are integers in the scheduler's units (millicores, devices,
-- bytes), so nothing here is rounded.

CREATE TABLE pod_observations (
  id             bigserial PRIMARY KEY,
  cluster_id     text NOT NULL REFERENCES clusters (id),
  -- The customer the namespace was labelled for when the pod was first seen.
  customer_id    text NOT NULL REFERENCES customers (id),
  namespace      text NOT NULL,
  name           text NOT NULL,
  uid            text NOT NULL,
  phase          text,
  -- The pod's effective request, as the scheduler reserves it (init containers, sidecars, overhead).
  cpu_millicores bigint NOT NULL CHECK (cpu_millicores >= 0),
  gpus           bigint NOT NULL CHECK (gpus >= 0),
  memory_bytes   bigint NOT NULL CHECK (memory_bytes >= 0),
  -- status.startTime; null while the pod waits to be scheduled (it reserves nothing yet).
  started_at     timestamptz,
  -- The latest container termination once the pod is Succeeded or Failed; null while it runs.
  finished_at    timestamptz,
  first_seen_at  timestamptz NOT NULL,
  last_seen_at   timestamptz NOT NULL,
  UNIQUE (cluster_id, uid),
  CHECK (last_seen_at >= first_seen_at)
);
-- A day's query: the customer's pods whose billed interval ends after the day starts.
CREATE INDEX pod_observations_customer_end
  ON pod_observations (customer_id, cluster_id, (COALESCE(finished_at, last_seen_at)));

CREATE TABLE pvc_observations (
  id             bigserial PRIMARY KEY,
  cluster_id     text NOT NULL REFERENCES clusters (id),
  customer_id    text NOT NULL REFERENCES customers (id),
  namespace      text NOT NULL,
  name           text NOT NULL,
  uid            text NOT NULL,
  phase          text,
  -- status.capacity.storage of the bound claim (0 while unbound), as last observed.
  capacity_bytes bigint NOT NULL CHECK (capacity_bytes >= 0),
  -- metadata.creationTimestamp and metadata.deletionTimestamp.
  created_at     timestamptz NOT NULL,
  deleted_at     timestamptz,
  first_seen_at  timestamptz NOT NULL,
  last_seen_at   timestamptz NOT NULL,
  UNIQUE (cluster_id, uid),
  CHECK (last_seen_at >= first_seen_at)
);
CREATE INDEX pvc_observations_customer_end
  ON pvc_observations (customer_id, cluster_id, (COALESCE(deleted_at, last_seen_at)));

-- When each cluster was observed: a day's usage is complete once an observation ended after it.
CREATE TABLE cluster_observations (
  cluster_id        text PRIMARY KEY REFERENCES clusters (id),
  first_observed_at timestamptz NOT NULL,
  last_observed_at  timestamptz NOT NULL,
  -- What the latest observation recorded.
  pods              integer NOT NULL CHECK (pods >= 0),
  claims            integer NOT NULL CHECK (claims >= 0),
  CHECK (last_observed_at >= first_observed_at)
);
