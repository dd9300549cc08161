-- Up Migration
--
-- The stored balance of each customer's prepaid credits, next to the ledger it is derived from.
-- `credit_ledger` stays the record; this table answers "what is the balance" in one indexed read (the
-- admin's customer list, every daily debit). A trigger adds each new entry's amount in the same
-- statement, so the two cannot drift, whichever code inserts the entry; a guard refuses any other
-- change. Always: balance_micros = Σ credit_ledger.amount_micros of the customer.
--
-- The row is also the lock that serializes one customer's ledger writes (src/db/ledger.ts takes it with
-- SELECT … FOR UPDATE before it checks idempotency keys and what an expiry or refund may take).

CREATE TABLE credit_balances (
  customer_id    text PRIMARY KEY REFERENCES customers (id),
  balance_micros bigint NOT NULL DEFAULT 0,
  updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Entries written before this migration.
INSERT INTO credit_balances (customer_id, balance_micros)
  SELECT customer_id, sum(amount_micros)::bigint FROM credit_ledger GROUP BY customer_id;

CREATE FUNCTION credit_ledger_add_to_balance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO credit_balances AS b (customer_id, balance_micros) VALUES (NEW.customer_id, NEW.amount_micros)
  ON CONFLICT (customer_id) DO UPDATE
    SET balance_micros = b.balance_micros + EXCLUDED.balance_micros, updated_at = now();
  RETURN NULL;
END;
$$;
CREATE TRIGGER credit_ledger_balance AFTER INSERT ON credit_ledger
  FOR EACH ROW EXECUTE FUNCTION credit_ledger_add_to_balance();

-- Changes made by the trigger above run one trigger level down (pg_trigger_depth() = 2); a statement of
-- its own may only create a customer's row at zero, which is how the ledger's writers take the lock.
-- Rows are never deleted (nor are ledger entries).
CREATE FUNCTION credit_balances_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'DELETE' AND (pg_trigger_depth() > 1 OR (TG_OP = 'INSERT' AND NEW.balance_micros = 0)) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'credit_balances changes only through credit_ledger entries'
    USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER credit_balances_guard BEFORE INSERT OR UPDATE OR DELETE ON credit_balances
  FOR EACH ROW EXECUTE FUNCTION credit_balances_guard();
