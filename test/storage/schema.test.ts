import { afterEach, beforeEach, expect, it } from 'vitest';
import { migrate, MigrationChecksumError, migrationStatus } from '../../src/storage/migrate.js';
import { MIGRATIONS, migrationChecksum } from '../../src/storage/migrations.js';
import type { SqlClient } from '../../src/storage/sql-client.js';
import { createTarget, describeDrivers, type Target } from './helpers.js';

describeDrivers('schema', (kind) => {
  let t: Target;
  let db: SqlClient;

  beforeEach(async () => {
    t = await createTarget(kind);
    db = await t.open();
  });

  afterEach(async () => {
    await db.close();
    await t.cleanup();
  });

  it('applies every migration once, then has nothing pending', async () => {
    expect((await migrationStatus(db)).pending.map((m) => m.version)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(await migrate(db)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(await migrate(db)).toEqual([]);
    const st = await migrationStatus(db);
    expect(st.pending).toEqual([]);
    expect(st.problems).toEqual([]);
    expect(st.applied.map((a) => a.checksum)).toEqual(MIGRATIONS.map(migrationChecksum));
    const ts = await db.query<{ value: string }>(`SELECT value FROM db_settings WHERE key = 'timeseries'`);
    // TimescaleDB is not installed where these tests run: the native path is the one exercised
    expect(ts.rows[0]!.value).toBe('native');
  });

  it('refuses a database whose applied migration was changed', async () => {
    await migrate(db);
    await db.query(`UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1`);
    await expect(migrate(db)).rejects.toBeInstanceOf(MigrationChecksumError);
    await expect(migrate(db)).rejects.toThrow(/version 1 .* was applied with checksum edited/);
    expect((await migrationStatus(db)).problems).toHaveLength(1);
  });

  it('refuses a database migrated by a newer build', async () => {
    await migrate(db);
    await db.query(`INSERT INTO schema_migrations (version, name, checksum) VALUES (99, 'from the future', 'x')`);
    await expect(migrate(db)).rejects.toThrow(/version 99 .* unknown to this build/);
  });

  it('keeps audit_log append-only: UPDATE, DELETE and TRUNCATE are refused', async () => {
    await migrate(db);
    const hash = 'aa'.repeat(32);
    await db.query(
      `INSERT INTO audit_log (seq, ts_ns, ts, kind, type, actor_id, payload, prev_hash, hash)
       VALUES (1, 1, now(), 'input', 'timer', NULL, '{"type":"timer"}', decode($1, 'hex'), decode($1, 'hex'))`,
      [hash],
    );
    await expect(db.query(`UPDATE audit_log SET type = 'forged' WHERE seq = 1`)).rejects.toThrow(/append-only: UPDATE refused/);
    await expect(db.query(`DELETE FROM audit_log WHERE seq = 1`)).rejects.toThrow(/append-only: DELETE refused/);
    await expect(db.query(`DELETE FROM audit_log WHERE seq = 12345`)).rejects.toThrow(/append-only: DELETE refused/);
    await expect(db.query(`TRUNCATE audit_log`)).rejects.toThrow(/append-only: TRUNCATE refused/);
    const rows = await db.query<{ type: string }>(`SELECT type FROM audit_log`);
    expect(rows.rows).toEqual([{ type: 'timer' }]);
    // and nobody is granted the privileges through PUBLIC
    const acl = await db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
       WHERE c.oid = 'audit_log'::regclass AND a.grantee = 0 AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')`,
    );
    expect(acl.rows[0]!.n).toBe('0');
  });

  it('stores money as NUMERIC(38,8), never float', async () => {
    await migrate(db);
    const r = await db.query<{ table_name: string; column_name: string; data_type: string; numeric_precision: number | null; numeric_scale: number | null }>(
      `SELECT table_name, column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns
       WHERE table_schema = current_schema() AND table_name IN ('orders', 'fills', 'positions', 'positions_current', 'performance', 'market_data', 'instruments')
         AND data_type IN ('numeric', 'double precision', 'real')`,
    );
    expect(r.rows.length).toBeGreaterThan(40);
    for (const c of r.rows) expect([c.table_name, c.column_name, c.data_type, Number(c.numeric_precision), Number(c.numeric_scale)]).toEqual([c.table_name, c.column_name, 'numeric', 38, 8]);
  });

  it('creates monthly partitions ahead and on demand, and drops them past retention', async () => {
    await migrate(db);
    const partitions = async (): Promise<string[]> =>
      (
        await db.query<{ relname: string }>(
          `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass('fills') ORDER BY 1`,
        )
      ).rows.map((r) => r.relname);
    expect(await partitions()).toEqual([]);
    const fill = (ts: string) =>
      db.query(
        `INSERT INTO fills (ts, id, seq, ts_ns, order_id, exec_id, account, symbol, venue, side, quantity, price, notional, fee, venue_ts_ns)
         VALUES ($1, 'F1', 1, 1, 'O1', 'E1', 'A', 'S', 'V', 'buy', 1, 1, 1, 0, 1)`,
        [ts],
      );
    await expect(fill('2031-03-15T00:00:00Z')).rejects.toThrow(/no partition/);
    expect((await db.query<{ n: number }>(`SELECT bulwark_ensure_partitions('2031-02-20T00:00:00Z', '2031-03-15T00:00:00Z') AS n`)).rows[0]!.n).toBe(8);
    expect(await partitions()).toEqual(['fills_p203102', 'fills_p203103']);
    await fill('2031-03-15T00:00:00Z');
    // idempotent
    expect((await db.query<{ n: number }>(`SELECT bulwark_ensure_partitions('2031-03-01T00:00:00Z', '2031-03-31T00:00:00Z') AS n`)).rows[0]!.n).toBe(0);

    await db.query(`SELECT bulwark_ensure_partitions('2010-05-01T00:00:00Z', '2010-05-01T00:00:00Z')`);
    await db.query(`SELECT bulwark_ensure_partitions(now(), now())`);
    const dropped = (await db.query<{ d: string[] }>(`SELECT bulwark_apply_retention(7) AS d`)).rows[0]!.d;
    expect([...dropped].sort()).toEqual(['fills_p201005', 'market_data_p201005', 'performance_p201005', 'positions_p201005']);
    const now = new Date();
    const current = `fills_p${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
    expect(await partitions()).toEqual([current, 'fills_p203102', 'fills_p203103'].sort());
    await expect(db.query(`SELECT bulwark_apply_retention(0)`)).rejects.toThrow(/at least one year/);
  });
});
