-- Up Migration
--
-- Organisations (seed 003's organisation-level subscriptions). An organisation is a customer: the
-- customer row of the user who creates it becomes the organisation's billing account, so its
-- subscription, plan, cluster, invoices and credits stay where they are, and `organisations` gives it a
-- name. Other customers (users who signed up, each with their own row and workflow) join it as members:
--   owner   sees the organisation's billing and changes its plan; at least one remains
--   admin   the same
--   member  nothing of billing; its usage and entitlement checks count against the organisation's plan
-- The organisation's own customer is its first member (role owner), and a customer is a member of at
-- most one organisation (UNIQUE member_customer_id): so an organisation is never a member of another.
CREATE TABLE organisations (
  customer_id text PRIMARY KEY REFERENCES customers (id),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  created_by  text NOT NULL CHECK (length(created_by) BETWEEN 1 AND 255),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE organisation_members (
  organisation_id    text NOT NULL REFERENCES organisations (customer_id),
  member_customer_id text NOT NULL UNIQUE REFERENCES customers (id),
  role               text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  added_by           text NOT NULL CHECK (length(added_by) BETWEEN 1 AND 255),
  added_at           timestamptz NOT NULL DEFAULT now(),
  -- Also the index of an organisation's members (the entitlement queries sum their counters).
  PRIMARY KEY (organisation_id, member_customer_id)
);

-- A membership moves by being removed and added again; only its role changes in place.
CREATE TRIGGER organisation_members_keys_fixed BEFORE UPDATE OF organisation_id, member_customer_id
  ON organisation_members FOR EACH ROW EXECUTE FUNCTION forbid_update_delete();

-- An organisation's own customer stays its member (its billing account cannot leave it), and a customer
-- that is an organisation cannot join another one. UNIQUE member_customer_id already holds the second
-- once the organisation's owner row exists; this says so by name, and covers the first.
CREATE FUNCTION organisation_members_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.member_customer_id = OLD.organisation_id THEN
      RAISE EXCEPTION 'customer % is organisation %''s billing account: it cannot leave it',
        OLD.member_customer_id, OLD.organisation_id USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF NEW.member_customer_id <> NEW.organisation_id
     AND EXISTS (SELECT 1 FROM organisations WHERE customer_id = NEW.member_customer_id) THEN
    RAISE EXCEPTION 'customer % is an organisation: it cannot be a member of another one',
      NEW.member_customer_id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$$;
CREATE TRIGGER organisation_members_guard BEFORE INSERT OR DELETE ON organisation_members
  FOR EACH ROW EXECUTE FUNCTION organisation_members_guard();

-- At least one owner remains. Checked at commit, after taking the organisation's row lock (the one
-- src/db/organisations.ts takes before any change to its members), so two transactions demoting its
-- two owners at once are serialised and the second sees the first's change: it is refused.
CREATE FUNCTION organisation_keeps_an_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM organisations WHERE customer_id = OLD.organisation_id FOR UPDATE;
  IF FOUND AND NOT EXISTS (
    SELECT 1 FROM organisation_members WHERE organisation_id = OLD.organisation_id AND role = 'owner'
  ) THEN
    RAISE EXCEPTION 'organisation % would have no owner', OLD.organisation_id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER organisation_keeps_an_owner AFTER UPDATE OF role OR DELETE ON organisation_members
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION organisation_keeps_an_owner();
