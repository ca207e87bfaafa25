/**
 * The schema, as versioned migrations embedded in the code (no SQL files to copy at build time).
 * Each migration's checksum is the SHA-256 of its SQL: an applied migration is never edited, a
 * change is a new version. The SQL is one dialect for PGlite and PostgreSQL 15+; the only branch
 * (TimescaleDB hypertables or native monthly partitions) is taken inside the database by a DO
 * block, so the text, and with it the checksum, is the same everywhere.
 *
 * Conventions: money, prices and quantities NUMERIC(38,8) (never float); journal time both as
 * ts_ns (exact epoch nanoseconds) and ts (timestamptz, microseconds) for range queries.
 */
import { createHash } from 'node:crypto';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const M1_CORE = `
CREATE TABLE db_settings (
  key   text PRIMARY KEY,
  value text NOT NULL
);

-- Where the projector is: every journal record up to last_seq is in the database, nothing after.
CREATE TABLE projector_state (
  name       text PRIMARY KEY,
  last_seq   bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO projector_state (name, last_seq) VALUES ('journal', 0);

-- Every journal record, input or event: the mirrored audit trail. Immutable (triggers below).
CREATE TABLE audit_log (
  seq       bigint PRIMARY KEY,
  ts_ns     bigint NOT NULL,
  ts        timestamptz NOT NULL,
  kind      text NOT NULL CHECK (kind IN ('input', 'event')),
  type      text NOT NULL,
  actor_id  text,
  payload   jsonb NOT NULL,
  prev_hash bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
  hash      bytea NOT NULL CHECK (octet_length(hash) = 32)
);
-- Written at tens of thousands of rows a second, so few and cheap indexes: seq (the key), a BRIN
-- on time (rows arrive in time order, so a few pages of ranges cover it), and who-did-what for the
-- records that have an actor (commands and their events, not market data).
CREATE INDEX audit_log_ts_brin ON audit_log USING brin (ts);
CREATE INDEX audit_log_actor_ts_idx ON audit_log (actor_id, ts) WHERE actor_id IS NOT NULL;

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'the audit trail mirrors the hash-chained journal; records are never changed or removed';
END
$fn$;
-- Statement level, so even an UPDATE or DELETE that matches no row is refused.
CREATE TRIGGER audit_log_append_only
  BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;

-- One row per order: its current state (upserted from order.created/updated/rejected).
CREATE TABLE orders (
  id              text PRIMARY KEY,
  cl_ord_id       text NOT NULL,
  client_order_id text NOT NULL,
  account         text NOT NULL,
  strategy_id     text,
  trader_id       text,
  symbol          text NOT NULL,
  venue           text NOT NULL,
  side            text NOT NULL,
  order_type      text NOT NULL,
  time_in_force   text NOT NULL,
  quantity        numeric(38,8) NOT NULL,
  price           numeric(38,8),
  status          text NOT NULL,
  is_open         boolean NOT NULL,
  filled_quantity numeric(38,8) NOT NULL,
  leaves_quantity numeric(38,8) NOT NULL,
  average_price   numeric(38,8),
  fees            numeric(38,8) NOT NULL,
  venue_order_id  text,
  reject_reason   text,
  reject_detail   jsonb,
  replaces_id     text,
  replaced_by_id  text,
  uncertain       boolean NOT NULL,
  created_ts_ns   bigint NOT NULL,
  created_at      timestamptz NOT NULL,
  updated_ts_ns   bigint NOT NULL,
  updated_at      timestamptz NOT NULL,
  first_seq       bigint NOT NULL,
  last_seq        bigint NOT NULL
);
-- Dashboard: open orders (partial indexes stay as small as the open book), orders by time.
CREATE INDEX orders_open_created_idx ON orders (created_at DESC) WHERE is_open;
CREATE INDEX orders_open_strategy_idx ON orders (strategy_id, created_at DESC) WHERE is_open;
CREATE INDEX orders_created_idx ON orders (created_at DESC);

-- Every order.* event: the lifecycle of each order, one row per transition or request. The full
-- event is audit_log's row with the same seq (not copied here: it is the bulk of the volume).
CREATE TABLE order_events (
  seq             bigint PRIMARY KEY,
  ts_ns           bigint NOT NULL,
  ts              timestamptz NOT NULL,
  order_id        text NOT NULL,
  type            text NOT NULL,
  status          text,
  from_status     text,
  cause           text,
  filled_quantity numeric(38,8),
  leaves_quantity numeric(38,8),
  actor_id        text
);
CREATE INDEX order_events_order_idx ON order_events (order_id, seq);
CREATE INDEX order_events_ts_brin ON order_events USING brin (ts);

-- Each system.start configuration and each risk limit change.
CREATE TABLE config_versions (
  seq      bigint PRIMARY KEY,
  ts_ns    bigint NOT NULL,
  ts       timestamptz NOT NULL,
  kind     text NOT NULL CHECK (kind IN ('system.start', 'risk.limitsChanged')),
  actor_id text,
  reason   text,
  config   jsonb NOT NULL,
  previous jsonb
);

CREATE TABLE instruments (
  venue       text NOT NULL,
  symbol      text NOT NULL,
  tick_size   numeric(38,8) NOT NULL,
  lot_size    numeric(38,8) NOT NULL,
  min_qty     numeric(38,8),
  max_qty     numeric(38,8),
  currency    text NOT NULL,
  calendar    text,
  updated_seq bigint NOT NULL,
  PRIMARY KEY (venue, symbol)
);

CREATE TABLE strategies (
  id          text PRIMARY KEY,
  class       text,
  account     text,
  trader_id   text,
  params      jsonb,
  state       text,
  updated_seq bigint NOT NULL,
  updated_at  timestamptz NOT NULL
);

-- The latest snapshot per position (the dashboard's positions); history is in positions.
CREATE TABLE positions_current (
  key             text PRIMARY KEY,
  account         text NOT NULL,
  strategy_id     text,
  symbol          text NOT NULL,
  quantity        numeric(38,8) NOT NULL,
  average_price   numeric(38,8),
  cost_basis      numeric(38,8) NOT NULL,
  realized_pnl    numeric(38,8) NOT NULL,
  unrealized_pnl  numeric(38,8),
  mark_price      numeric(38,8),
  fees            numeric(38,8) NOT NULL,
  bought_quantity numeric(38,8) NOT NULL,
  sold_quantity   numeric(38,8) NOT NULL,
  ts              timestamptz NOT NULL,
  seq             bigint NOT NULL
);
CREATE INDEX positions_current_account_idx ON positions_current (account, strategy_id, symbol);
`;

const M2_TIME_SERIES = `
-- Time series: fills, position snapshots, market data and P&L. TimescaleDB hypertables (with
-- compression and retention policies) when the extension can be enabled, else native monthly
-- RANGE partitions created ahead of time and on demand by bulwark_ensure_partitions.
DO $do$
DECLARE
  use_ts boolean := false;
  part_ts text;
  part_bucket text;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    use_ts := true;
  ELSIF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
    BEGIN
      CREATE EXTENSION IF NOT EXISTS timescaledb;
      use_ts := true;
    EXCEPTION WHEN OTHERS THEN
      -- installed but not in shared_preload_libraries, or not permitted: partition natively
      RAISE NOTICE 'timescaledb is available but could not be enabled (%); using native partitions', SQLERRM;
    END;
  END IF;
  part_ts := CASE WHEN use_ts THEN '' ELSE ' PARTITION BY RANGE (ts)' END;
  part_bucket := CASE WHEN use_ts THEN '' ELSE ' PARTITION BY RANGE (bucket)' END;

  EXECUTE 'CREATE TABLE fills (
    ts          timestamptz NOT NULL,
    id          text NOT NULL,
    seq         bigint NOT NULL,
    ts_ns       bigint NOT NULL,
    order_id    text NOT NULL,
    exec_id     text NOT NULL,
    account     text NOT NULL,
    strategy_id text,
    symbol      text NOT NULL,
    venue       text NOT NULL,
    side        text NOT NULL,
    quantity    numeric(38,8) NOT NULL,
    price       numeric(38,8) NOT NULL,
    notional    numeric(38,8) NOT NULL,
    fee         numeric(38,8) NOT NULL,
    liquidity   text,
    venue_ts_ns bigint NOT NULL,
    PRIMARY KEY (ts, id)
  )' || part_ts;

  EXECUTE 'CREATE TABLE positions (
    ts              timestamptz NOT NULL,
    seq             bigint NOT NULL,
    ts_ns           bigint NOT NULL,
    account         text NOT NULL,
    strategy_id     text,
    symbol          text NOT NULL,
    quantity        numeric(38,8) NOT NULL,
    average_price   numeric(38,8),
    cost_basis      numeric(38,8) NOT NULL,
    realized_pnl    numeric(38,8) NOT NULL,
    unrealized_pnl  numeric(38,8),
    mark_price      numeric(38,8),
    fees            numeric(38,8) NOT NULL,
    bought_quantity numeric(38,8) NOT NULL,
    sold_quantity   numeric(38,8) NOT NULL,
    PRIMARY KEY (ts, seq)
  )' || part_ts;

  EXECUTE 'CREATE TABLE market_data (
    ts          timestamptz NOT NULL,
    seq         bigint NOT NULL,
    ts_ns       bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN (''quote'', ''trade'')),
    venue       text NOT NULL,
    symbol      text NOT NULL,
    feed_seq    bigint,
    bid         numeric(38,8),
    bid_size    numeric(38,8),
    ask         numeric(38,8),
    ask_size    numeric(38,8),
    price       numeric(38,8),
    quantity    numeric(38,8),
    aggressor   text,
    trade_id    text,
    venue_ts_ns bigint NOT NULL,
    PRIMARY KEY (ts, seq)
  )' || part_ts;

  -- P&L per strategy and per account, per hour and per day. Values are cumulative as of the last
  -- record in the bucket; open_net_pnl is the net P&L when the bucket began, so the bucket''s own
  -- P&L is net_pnl - open_net_pnl.
  EXECUTE 'CREATE TABLE performance (
    bucket          timestamptz NOT NULL,
    period          text NOT NULL CHECK (period IN (''hour'', ''day'')),
    scope           text NOT NULL CHECK (scope IN (''strategy'', ''account'')),
    scope_id        text NOT NULL,
    realized_pnl    numeric(38,8) NOT NULL,
    unrealized_pnl  numeric(38,8) NOT NULL,
    fees            numeric(38,8) NOT NULL,
    net_pnl         numeric(38,8) NOT NULL,
    open_net_pnl    numeric(38,8) NOT NULL,
    fills           bigint NOT NULL,
    traded_quantity numeric(38,8) NOT NULL,
    traded_notional numeric(38,8) NOT NULL,
    last_seq        bigint NOT NULL,
    PRIMARY KEY (period, scope, scope_id, bucket)
  )' || part_bucket;

  IF use_ts THEN
    PERFORM create_hypertable('fills', 'ts', chunk_time_interval => interval '7 days', create_default_indexes => false);
    PERFORM create_hypertable('positions', 'ts', chunk_time_interval => interval '7 days', create_default_indexes => false);
    PERFORM create_hypertable('market_data', 'ts', chunk_time_interval => interval '1 day', create_default_indexes => false);
    PERFORM create_hypertable('performance', 'bucket', chunk_time_interval => interval '30 days', create_default_indexes => false);
    ALTER TABLE fills SET (timescaledb.compress, timescaledb.compress_segmentby = 'account', timescaledb.compress_orderby = 'ts DESC, id');
    ALTER TABLE positions SET (timescaledb.compress, timescaledb.compress_segmentby = 'account', timescaledb.compress_orderby = 'ts DESC, seq');
    ALTER TABLE market_data SET (timescaledb.compress, timescaledb.compress_segmentby = 'symbol', timescaledb.compress_orderby = 'ts DESC, seq');
    ALTER TABLE performance SET (timescaledb.compress, timescaledb.compress_segmentby = 'period, scope, scope_id', timescaledb.compress_orderby = 'bucket DESC');
    PERFORM add_compression_policy('fills', interval '30 days');
    PERFORM add_compression_policy('positions', interval '30 days');
    PERFORM add_compression_policy('market_data', interval '7 days');
    PERFORM add_compression_policy('performance', interval '90 days');
  END IF;
  INSERT INTO db_settings (key, value) VALUES ('timeseries', CASE WHEN use_ts THEN 'timescaledb' ELSE 'native' END);
END
$do$;

CREATE INDEX fills_order_idx ON fills (order_id);
CREATE INDEX fills_strategy_ts_idx ON fills (strategy_id, ts DESC);
CREATE INDEX fills_account_ts_idx ON fills (account, ts DESC);
CREATE INDEX positions_key_ts_idx ON positions (account, strategy_id, symbol, ts DESC);
CREATE INDEX market_data_symbol_ts_idx ON market_data (symbol, ts DESC);

-- Creates the monthly partition of p_parent holding p_month (UTC) if it is missing.
CREATE FUNCTION bulwark_month_partition(p_parent text, p_month date) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
  m date := date_trunc('month', p_month)::date;
  part text := p_parent || '_p' || to_char(m, 'YYYYMM');
BEGIN
  IF to_regclass(quote_ident(part)) IS NOT NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
    part, p_parent, to_char(m, 'YYYY-MM-DD') || ' 00:00:00+00',
    to_char((m + interval '1 month')::date, 'YYYY-MM-DD') || ' 00:00:00+00');
  RETURN true;
END
$fn$;

-- Makes sure every time-series table has a partition for each month in [p_from, p_to] (UTC).
-- A no-op on TimescaleDB, which creates chunks itself. Returns the number of partitions created.
CREATE FUNCTION bulwark_ensure_partitions(p_from timestamptz, p_to timestamptz) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
  t text;
  m date;
  last_month date := date_trunc('month', p_to AT TIME ZONE 'UTC')::date;
  n integer := 0;
BEGIN
  IF (SELECT value FROM db_settings WHERE key = 'timeseries') IS DISTINCT FROM 'native' THEN
    RETURN 0;
  END IF;
  FOREACH t IN ARRAY ARRAY['fills', 'positions', 'market_data', 'performance'] LOOP
    m := date_trunc('month', p_from AT TIME ZONE 'UTC')::date;
    WHILE m <= last_month LOOP
      IF bulwark_month_partition(t, m) THEN
        n := n + 1;
      END IF;
      m := (m + interval '1 month')::date;
    END LOOP;
  END LOOP;
  RETURN n;
END
$fn$;

-- Retention for the time series: TimescaleDB gets (or has updated) a retention policy; native
-- partitions wholly older than p_years are dropped. Returns what was dropped. audit_log,
-- order_events and orders are not touched: the audit trail is never deleted from the database.
CREATE FUNCTION bulwark_apply_retention(p_years integer) RETURNS text[]
LANGUAGE plpgsql AS $fn$
DECLARE
  mode text := (SELECT value FROM db_settings WHERE key = 'timeseries');
  cutoff timestamptz;
  t text;
  r record;
  dropped text[] := '{}';
BEGIN
  IF p_years IS NULL OR p_years < 1 THEN
    RAISE EXCEPTION 'retention must be at least one year, got %', p_years;
  END IF;
  cutoff := now() - make_interval(years => p_years);
  FOREACH t IN ARRAY ARRAY['fills', 'positions', 'market_data', 'performance'] LOOP
    IF mode = 'timescaledb' THEN
      PERFORM remove_retention_policy(t::regclass, if_exists => true);
      PERFORM add_retention_policy(t::regclass, make_interval(years => p_years));
    ELSE
      FOR r IN
        SELECT c.oid::regclass AS rel, c.relname
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = to_regclass(quote_ident(t)) AND c.relname ~ ('^' || t || '_p[0-9]{6}$')
      LOOP
        -- the partition holds [month, month + 1): drop it once all of it is past the cutoff
        IF ((to_date(right(r.relname, 6), 'YYYYMM') + interval '1 month')::timestamp AT TIME ZONE 'UTC') <= cutoff THEN
          EXECUTE format('DROP TABLE %s', r.rel);
          dropped := dropped || r.relname::text;
        END IF;
      END LOOP;
    END IF;
  END LOOP;
  RETURN dropped;
END
$fn$;
`;

const M3_AUDIT_PAYLOAD_JSON = `
-- audit_log.payload as json, not jsonb. The projector writes every journal record here, and
-- building jsonb (parsing each payload into its binary tree) was most of the database's cost per
-- record: json only checks the text and stores it as written (the payload's JSON text). The
-- operators compliance queries use (->, ->>, #>>, json_each, ...) exist for json too; for @> or
-- a GIN index cast: payload::jsonb. Rewrites the table once (the statement-level trigger guards
-- UPDATE, DELETE and TRUNCATE, not ALTER; the table stays append-only).
ALTER TABLE audit_log ALTER COLUMN payload TYPE json USING payload::json;
`;

const M4_ORDER_EVENTS_KEY = `
-- A record may now concern several orders: order.massCanceled (one venue mass cancel report) ends
-- every order it names in one journal record, so order_events gets one row per order of it, all
-- with the record's seq. The key becomes (seq, order_id); lookups by order use order_events_order_idx.
ALTER TABLE order_events DROP CONSTRAINT order_events_pkey;
ALTER TABLE order_events ADD PRIMARY KEY (seq, order_id);
`;

const M5_AUDIT_LOG_PARTITIONS = `
-- audit_log kept two years in the database, then pruned by dropping whole monthly partitions,
-- never by DELETE (docs/compliance.md, "Storage and retention" 3).
--
-- audit_log becomes a table partitioned by RANGE on ts, one partition per UTC month named
-- audit_log_pYYYYMM, primary key (seq, ts) (a unique key of a partitioned table must hold the
-- partition key; a record projected twice still collides: same seq, same ts). Native partitions
-- in both time-series modes: with TimescaleDB a hypertable would be dropped by chunk retention
-- policies that know nothing of the WORM archive, and its chunks are not ours to guard with
-- triggers; plain PostgreSQL partitions behave the same on PGlite, PostgreSQL and TimescaleDB.
--
-- The existing rows are copied into the new table once (the old one is renamed, copied, dropped).
ALTER TABLE audit_log RENAME TO audit_log_unpartitioned;

CREATE TABLE audit_log (
  seq       bigint NOT NULL,
  ts_ns     bigint NOT NULL,
  ts        timestamptz NOT NULL,
  kind      text NOT NULL CHECK (kind IN ('input', 'event')),
  type      text NOT NULL,
  actor_id  text,
  payload   json NOT NULL,
  prev_hash bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
  hash      bytea NOT NULL CHECK (octet_length(hash) = 32)
) PARTITION BY RANGE (ts);

-- A statement-level trigger on the partitioned parent does not fire for a statement that names a
-- partition (DELETE FROM audit_log_p202401), and statement triggers are not cloned onto
-- partitions: every partition gets its own. Adds the refusal trigger (and the REVOKE) to any
-- partition of audit_log that lacks it, e.g. one attached by hand; returns how many it fixed.
CREATE FUNCTION bulwark_audit_guard_partitions() RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
  r record;
  n integer := 0;
BEGIN
  FOR r IN
    SELECT c.oid::regclass AS rel
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'audit_log'::regclass
      AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'audit_log_append_only')
  LOOP
    EXECUTE format('CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()', r.rel);
    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %s FROM PUBLIC', r.rel);
    n := n + 1;
  END LOOP;
  RETURN n;
END
$fn$;

-- The monthly partition of audit_log holding p_month (UTC), with its refusal trigger, if missing.
CREATE FUNCTION bulwark_audit_partition(p_month date) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
  part text := 'audit_log_p' || to_char(date_trunc('month', p_month), 'YYYYMM');
BEGIN
  IF NOT bulwark_month_partition('audit_log', p_month) THEN
    RETURN false;
  END IF;
  EXECUTE format('CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()', part);
  EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %I FROM PUBLIC', part);
  RETURN true;
END
$fn$;

-- Makes sure audit_log has a partition for each month in [p_from, p_to] (UTC), whatever the
-- time-series mode, and that every partition refuses UPDATE/DELETE/TRUNCATE. The projector calls
-- it with bulwark_ensure_partitions, for the months of each batch and hourly ahead of time.
-- SECURITY DEFINER: partitions are created by (and owned by) the owner of audit_log. Returns the
-- number of partitions created.
CREATE FUNCTION bulwark_ensure_audit_partitions(p_from timestamptz, p_to timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER AS $fn$
DECLARE
  m date := date_trunc('month', p_from AT TIME ZONE 'UTC')::date;
  last_month date := date_trunc('month', p_to AT TIME ZONE 'UTC')::date;
  n integer := 0;
BEGIN
  WHILE m <= last_month LOOP
    IF bulwark_audit_partition(m) THEN
      n := n + 1;
    END IF;
    m := (m + interval '1 month')::date;
  END LOOP;
  PERFORM bulwark_audit_guard_partitions();
  RETURN n;
END
$fn$;

-- The partitions the existing rows need, and the months around now; then the rows, in the order
-- they were written (seq order: the table was append-only).
DO $do$
DECLARE
  m date;
BEGIN
  FOR m IN SELECT DISTINCT date_trunc('month', ts AT TIME ZONE 'UTC')::date FROM audit_log_unpartitioned LOOP
    PERFORM bulwark_audit_partition(m);
  END LOOP;
  PERFORM bulwark_ensure_audit_partitions(now() - interval '1 month', now() + interval '3 months');
END
$do$;
INSERT INTO audit_log (seq, ts_ns, ts, kind, type, actor_id, payload, prev_hash, hash)
  SELECT seq, ts_ns, ts, kind, type, actor_id, payload, prev_hash, hash FROM audit_log_unpartitioned;
DROP TABLE audit_log_unpartitioned;

ALTER TABLE audit_log ADD PRIMARY KEY (seq, ts);
CREATE INDEX audit_log_ts_brin ON audit_log USING brin (ts);
CREATE INDEX audit_log_actor_ts_idx ON audit_log (actor_id, ts) WHERE actor_id IS NOT NULL;
-- Statement level, so even an UPDATE or DELETE that matches no row is refused.
CREATE TRIGGER audit_log_append_only
  BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;

-- The WORM archive's confirmed high-water mark: every journal record up to archived_seq is in a
-- sealed segment the archive holds (listed or uploaded). Projected from the journal: the
-- archiver journals it in each audit.archived note (detail.archivedThroughSeq) and the projector
-- copies the highest one here, with the seq of the record that reported it (source_seq), which
-- bulwark_prune_audit_log checks against audit_log before trusting the mark.
CREATE TABLE audit_archive_state (
  archive      text PRIMARY KEY CHECK (archive = 'worm'),
  archived_seq bigint NOT NULL DEFAULT 0 CHECK (archived_seq >= 0),
  source_seq   bigint CHECK (source_seq > archived_seq),
  reported_at  timestamptz
);
INSERT INTO audit_archive_state (archive) VALUES ('worm');

-- Every partition bulwark_prune_audit_log dropped: what, when, by whom, against which mark.
CREATE TABLE audit_log_prunes (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  pruned_at       timestamptz NOT NULL DEFAULT now(),
  pruned_by       text NOT NULL DEFAULT session_user,
  partition_name  text NOT NULL,
  month           date NOT NULL,
  min_seq         bigint,
  max_seq         bigint,
  retention_years integer NOT NULL,
  archived_seq    bigint NOT NULL
);
CREATE FUNCTION bulwark_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$fn$;
CREATE TRIGGER audit_log_prunes_append_only
  BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log_prunes
  FOR EACH STATEMENT EXECUTE FUNCTION bulwark_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log_prunes FROM PUBLIC;

-- Drops whole monthly partitions of audit_log (never DELETE: the refusal triggers stay), oldest
-- first, each only when
--   * every row it can hold is older than now() - p_years (its upper bound is at or before that),
--   * its highest seq is at or below the WORM archive's confirmed mark (audit_archive_state, which
--     must be backed by the audit.archived row in audit_log that reported it), and
--   * every seq it holds is below every seq that stays, so the rows left are a contiguous suffix
--     (verify accepts rows missing below the oldest retained seq, never a hole in between).
-- Stops at the first month that does not qualify. Records each drop in audit_log_prunes and
-- returns them. SECURITY DEFINER (run as the owner of audit_log; EXECUTE is revoked from PUBLIC).
CREATE FUNCTION bulwark_prune_audit_log(p_years integer DEFAULT 2)
RETURNS TABLE (partition_name text, month date, min_seq bigint, max_seq bigint)
LANGUAGE plpgsql SECURITY DEFINER AS $fn$
#variable_conflict use_column
DECLARE
  cutoff timestamptz;
  mark bigint;
  src bigint;
  r record;
  lo bigint;
  hi bigint;
  names text[] := '{}';
  months date[] := '{}';
  los bigint[] := '{}';
  his bigint[] := '{}';
  keep_min bigint;
  top bigint;
  k integer;
BEGIN
  IF p_years IS NULL OR p_years < 1 THEN
    RAISE EXCEPTION 'audit_log is kept at least one year, got %', p_years USING ERRCODE = 'invalid_parameter_value';
  END IF;
  cutoff := now() - make_interval(years => p_years);
  PERFORM pg_advisory_xact_lock(hashtext('bulwark.prune_audit_log:' || current_schema()));
  PERFORM bulwark_audit_guard_partitions();
  -- nothing old enough: done, without locking audit_log
  IF NOT EXISTS (
    SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'audit_log'::regclass AND c.relname ~ '^audit_log_p[0-9]{6}$'
      AND ((to_date(right(c.relname, 6), 'YYYYMM') + interval '1 month')::timestamp AT TIME ZONE 'UTC') <= cutoff
  ) THEN
    RETURN;
  END IF;
  SELECT s.archived_seq, s.source_seq INTO mark, src FROM audit_archive_state s WHERE s.archive = 'worm';
  mark := coalesce(mark, 0);
  IF mark > 0 AND NOT EXISTS (
    SELECT 1 FROM audit_log a
    WHERE a.seq = src AND a.type = 'system.note' AND a.payload->>'event' = 'audit.archived'
      AND a.payload->'detail'->>'archivedThroughSeq' = mark::text
  ) THEN
    RAISE EXCEPTION 'audit_archive_state says the WORM archive holds every record up to seq %, but audit_log has no audit.archived record (seq %) reporting it: refusing to prune', mark, src
      USING ERRCODE = 'data_exception';
  END IF;
  -- no new rows while the partitions are measured and dropped (readers go on until the DROP)
  LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE;
  FOR r IN
    SELECT c.oid::regclass AS rel, c.relname::text AS relname, to_date(right(c.relname, 6), 'YYYYMM') AS m
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'audit_log'::regclass AND c.relname ~ '^audit_log_p[0-9]{6}$'
    ORDER BY 3
  LOOP
    EXIT WHEN ((r.m + interval '1 month')::timestamp AT TIME ZONE 'UTC') > cutoff;
    EXECUTE format('SELECT min(seq), max(seq) FROM %s', r.rel) INTO lo, hi;
    EXIT WHEN hi IS NOT NULL AND hi > mark;
    names := names || r.relname;
    months := months || r.m;
    los := los || lo;
    his := his || hi;
  END LOOP;
  k := coalesce(array_length(names, 1), 0);
  IF k = 0 THEN
    RETURN;
  END IF;
  -- the lowest seq that stays (a clock that went back can put a lower seq in a later month)
  FOR r IN
    SELECT c.oid::regclass AS rel FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'audit_log'::regclass AND NOT (c.relname::text = ANY (names))
  LOOP
    EXECUTE format('SELECT min(seq) FROM %s', r.rel) INTO lo;
    IF lo IS NOT NULL AND (keep_min IS NULL OR lo < keep_min) THEN
      keep_min := lo;
    END IF;
  END LOOP;
  WHILE k > 0 LOOP
    SELECT max(x) INTO top FROM unnest(his[1:k]) AS x;
    EXIT WHEN keep_min IS NULL OR top IS NULL OR top < keep_min;
    IF los[k] IS NOT NULL AND los[k] < keep_min THEN
      keep_min := los[k];
    END IF;
    k := k - 1;
  END LOOP;
  FOR i IN 1 .. k LOOP
    EXECUTE format('DROP TABLE %I', names[i]);
    INSERT INTO audit_log_prunes (partition_name, month, min_seq, max_seq, retention_years, archived_seq)
      VALUES (names[i], months[i], los[i], his[i], p_years, mark);
    partition_name := names[i];
    month := months[i];
    min_seq := los[i];
    max_seq := his[i];
    RETURN NEXT;
  END LOOP;
END
$fn$;

REVOKE EXECUTE ON FUNCTION bulwark_prune_audit_log(integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bulwark_ensure_audit_partitions(timestamptz, timestamptz) FROM PUBLIC;
-- SECURITY DEFINER functions resolve names in this schema only (and pg_temp last), never in a
-- schema the caller put first on its search_path.
DO $do$
BEGIN
  EXECUTE format('ALTER FUNCTION bulwark_prune_audit_log(integer) SET search_path = %I, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION bulwark_ensure_audit_partitions(timestamptz, timestamptz) SET search_path = %I, pg_temp', current_schema());
END
$do$;
`;

const M6_AUDIT_PRUNES_JOURNALED = `
-- Which prunes the journal has been told of. A prune happens in the database (the node's daily
-- run, or bulwark db prune-audit, possibly while no node runs) and is recorded in
-- audit_log_prunes; the journal, not the database, is the system of record an examiner verifies.
-- The projector reports every audit_log_prunes row that has no row here to the node, which
-- journals it as a system.note 'database.auditPruned'; projecting that note adds the row here,
-- with the seq of the note. The first note wins (a prune reported again after a restart, before
-- its note was projected, keeps the seq of the first). Only prunes this database recorded are
-- listed (a journal replayed into a fresh database names prunes it never had: they are skipped).
-- Append-only, like audit_log_prunes.
CREATE TABLE audit_log_prunes_journaled (
  prune_id bigint PRIMARY KEY REFERENCES audit_log_prunes (id),
  seq      bigint NOT NULL CHECK (seq > 0)
);
CREATE TRIGGER audit_log_prunes_journaled_append_only
  BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log_prunes_journaled
  FOR EACH STATEMENT EXECUTE FUNCTION bulwark_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log_prunes_journaled FROM PUBLIC;
`;

const M7_LEAST_PRIVILEGE = `
-- The node may run as a role that owns nothing (docs/operations.md, "Database roles"): it needs
-- only the table privileges bulwark db grants lists, and EXECUTE on the functions below, which
-- create or drop partitions and so run as their owner (the owner of the parent tables), like
-- bulwark_ensure_audit_partitions already does. EXECUTE is revoked from PUBLIC: a role must be
-- granted it. bulwark_prune_audit_log stays with the owner unless granted too.
ALTER FUNCTION bulwark_ensure_partitions(timestamptz, timestamptz) SECURITY DEFINER;
ALTER FUNCTION bulwark_apply_retention(integer) SECURITY DEFINER;
REVOKE EXECUTE ON FUNCTION bulwark_ensure_partitions(timestamptz, timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bulwark_apply_retention(integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bulwark_month_partition(text, date) FROM PUBLIC;
DO $do$
BEGIN
  EXECUTE format('ALTER FUNCTION bulwark_ensure_partitions(timestamptz, timestamptz) SET search_path = %I, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION bulwark_apply_retention(integer) SET search_path = %I, pg_temp', current_schema());
END
$do$;
`;

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'core tables, immutable audit_log', sql: M1_CORE },
  { version: 2, name: 'time series: hypertables or monthly partitions, retention', sql: M2_TIME_SERIES },
  { version: 3, name: 'audit_log.payload json (cheaper to write than jsonb)', sql: M3_AUDIT_PAYLOAD_JSON },
  { version: 4, name: 'order_events keyed by (seq, order_id): one record may end many orders', sql: M4_ORDER_EVENTS_KEY },
  { version: 5, name: 'audit_log partitioned by month, archive mark, prune by dropping partitions', sql: M5_AUDIT_LOG_PARTITIONS },
  { version: 6, name: 'audit_log_prunes_journaled: which prunes the journal has been told of', sql: M6_AUDIT_PRUNES_JOURNALED },
  { version: 7, name: 'least privilege: partition functions run as their owner, EXECUTE granted not public', sql: M7_LEAST_PRIVILEGE },
];

export function migrationChecksum(m: Migration): string {
  return createHash('sha256').update(m.sql.replace(/\r\n/g, '\n'), 'utf8').digest('hex');
}
