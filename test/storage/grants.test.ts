/**
 * Least-privilege roles (src/storage/grants.ts, docs/operations.md "Database roles"). On both
 * drivers: the privilege map decides every table the migrations create, and migration 7 leaves
 * the partition functions SECURITY DEFINER with EXECUTE not PUBLIC's. On PostgreSQL (skipped, with
 * the reason in its name, without DATABASE_URL): an owner role migrates, `bulwark db grants`
 * grants a node role and a reader role, and the node's projector, its hourly maintenance and the
 * dashboard queries all work under exactly those privileges, while every change to audit_log
 * other than INSERT is refused by the privileges themselves (not only by the trigger).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal } from '../../src/engine/journal.js';
import { NodeDatabase } from '../../src/storage/database.js';
import { grantStatements, NODE_FUNCTIONS, NODE_TABLE_PRIVILEGES, OWNER_ONLY_FUNCTIONS, schemaTables } from '../../src/storage/grants.js';
import { migrate, MigrationPrivilegeError } from '../../src/storage/migrate.js';
import { MIGRATIONS } from '../../src/storage/migrations.js';
import { currentPositions, openOrders, pnlSeries, todaysFills } from '../../src/storage/queries.js';
import { databaseSettings, DATABASE_DEFAULTS } from '../../src/storage/settings.js';
import { openPostgres, type SqlClient } from '../../src/storage/sql-client.js';
import { SyntheticFlow } from '../../src/storage/synthetic-flow.js';
import { appendFlow, createTarget, describeDrivers, expectMirrors, PG_URL, runDbCli, tmpDir, type Target } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A fresh target of `kind`, migrated, and a connection to it (both cleaned up after the test). */
async function migrated(kind: Target['kind']): Promise<SqlClient> {
  const t = await createTarget(kind);
  cleanups.push(() => t.cleanup());
  const db = await t.open();
  cleanups.push(() => db.close());
  await migrate(db);
  return db;
}

describeDrivers('database roles: the privilege map and migration 7', (kind) => {
  it('decides the privileges of every table the migrations create, and no table they do not', async () => {
    const db = await migrated(kind);
    expect(await schemaTables(db)).toEqual(Object.keys(NODE_TABLE_PRIVILEGES).sort());
  });

  it('runs the partition functions as their owner, with EXECUTE revoked from PUBLIC', async () => {
    const db = await migrated(kind);
    for (const f of [...NODE_FUNCTIONS, ...OWNER_ONLY_FUNCTIONS]) {
      const r = await db.query<{ definer: boolean; config: string[] | null; public_execute: boolean }>(
        `SELECT p.prosecdef AS definer, p.proconfig AS config,
                EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                         WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') AS public_execute
           FROM pg_proc p WHERE p.oid = $1::regprocedure`,
        [f],
      );
      expect(r.rows[0], f).toBeDefined();
      expect(r.rows[0]!.definer, `${f} is SECURITY DEFINER`).toBe(true);
      expect(r.rows[0]!.public_execute, `${f} is not PUBLIC's to execute`).toBe(false);
      // a definer function resolves names in its own schema, never in one the caller put first
      expect(r.rows[0]!.config?.some((c) => /^search_path=.+, pg_temp$/.test(c)), `${f} pins search_path`).toBe(true);
    }
  });
});

describe('grant statements', () => {
  it('revoke first, then grant the map exactly; the reader gets SELECT only', () => {
    const node = grantStatements('bulwark_node', 'trading', 'node');
    expect(node.slice(0, 4)).toEqual([
      'REVOKE ALL ON ALL TABLES IN SCHEMA "trading" FROM "bulwark_node"',
      'REVOKE ALL ON ALL FUNCTIONS IN SCHEMA "trading" FROM "bulwark_node"',
      'REVOKE ALL ON ALL SEQUENCES IN SCHEMA "trading" FROM "bulwark_node"',
      'GRANT USAGE ON SCHEMA "trading" TO "bulwark_node"',
    ]);
    expect(node).toContain('GRANT SELECT, INSERT ON TABLE "trading"."audit_log" TO "bulwark_node"');
    expect(node).toContain('GRANT EXECUTE ON FUNCTION "trading"."bulwark_apply_retention"(integer) TO "bulwark_node"');
    expect(node.some((s) => /UPDATE|DELETE|TRUNCATE/.test(s) && /audit_log/.test(s))).toBe(false);
    expect(node.some((s) => s.includes('bulwark_prune_audit_log'))).toBe(false);
    const reader = grantStatements('dash', 'trading', 'reader');
    expect(reader.filter((s) => s.startsWith('GRANT ')).every((s) => s.startsWith('GRANT SELECT ON TABLE') || s.startsWith('GRANT USAGE ON SCHEMA'))).toBe(true);
    // identifiers are quoted, so a name is taken literally
    expect(grantStatements('we"ird', 'S', 'reader')[3]).toBe('GRANT USAGE ON SCHEMA "S" TO "we""ird"');
    expect(() => grantStatements('pg_monitor', 's', 'node')).toThrow(/role must not start with pg_/);
    // a newline would end the printed script's comment line
    expect(() => grantStatements('x\nDROP TABLE audit_log; --', 's', 'node')).toThrow(/control characters/);
  });
});

const roleSkip = PG_URL ? '' : ' — skipped: DATABASE_URL is not set';

describe.skipIf(!PG_URL)(`database roles on PostgreSQL: owner, node and reader${roleSkip}`, () => {
  interface Split {
    schema: string;
    owner: string;
    node: string;
    reader: string;
    url(role: string): string;
    admin: pg.Client;
    dataDir: string;
  }

  async function split(): Promise<Split> {
    const sfx = randomBytes(4).toString('hex');
    const s: Split = {
      schema: `bulwark_roles_${sfx}`,
      owner: `bw_owner_${sfx}`,
      node: `bw_node_${sfx}`,
      reader: `bw_reader_${sfx}`,
      url: (role) => {
        const u = new URL(PG_URL!);
        u.username = role;
        u.password = '';
        u.searchParams.set('options', `-c search_path=${s.schema}`);
        return u.toString();
      },
      admin: new pg.Client({ connectionString: PG_URL }),
      dataDir: tmpDir('bulwark-roles-'),
    };
    await s.admin.connect();
    for (const r of [s.owner, s.node, s.reader]) await s.admin.query(`CREATE ROLE ${r} LOGIN`);
    await s.admin.query(`CREATE SCHEMA ${s.schema} AUTHORIZATION ${s.owner}`);
    cleanups.push(async () => {
      await s.admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY($1)`, [[s.owner, s.node, s.reader]]).catch(() => {});
      await s.admin.query(`DROP SCHEMA IF EXISTS ${s.schema} CASCADE`);
      for (const r of [s.node, s.reader, s.owner]) {
        await s.admin.query(`DROP OWNED BY ${r}`).catch(() => {});
        await s.admin.query(`DROP ROLE IF EXISTS ${r}`);
      }
      await s.admin.end();
      fs.rmSync(s.dataDir, { recursive: true, force: true });
    });
    return s;
  }

  async function as(s: Split, role: string): Promise<SqlClient> {
    const c = await openPostgres(s.url(role), `bwt_${s.schema}`);
    cleanups.push(() => c.close());
    return c;
  }

  /** `bulwark db <args>` with the configuration of `role` (the CLI's own error, if any, is thrown). */
  function bulwark(s: Split, role: string, ...args: string[]): Promise<string> {
    return runDbCli(s.dataDir, `${role}.yaml`, `database:\n  url: "${s.url(role)}"\n`, args);
  }

  it('bulwark db grants prints and applies the grants; the node projects and maintains under them, the reader reads', async () => {
    const s = await split();
    const owner = await as(s, s.owner);
    expect(await migrate(owner)).toEqual(MIGRATIONS.map((m) => m.version));

    // what the CLI refuses: no role, the owner itself, a role that does not exist (when applying)
    await expect(bulwark(s, s.owner, 'grants', '--role', '')).rejects.toThrow(/must not be empty/);
    await expect(bulwark(s, s.owner, 'grants', '--role', s.owner, '--apply')).rejects.toThrow(/owns the schema's tables/);
    await expect(bulwark(s, s.owner, 'grants', '--role', `${s.node}_nobody`, '--apply')).rejects.toThrow(/does not exist/);

    const printed = await bulwark(s, s.owner, 'grants', '--role', s.node);
    expect(printed).toContain(`BEGIN;\nREVOKE ALL ON ALL TABLES IN SCHEMA "${s.schema}" FROM "${s.node}";\n`);
    expect(printed).toContain(`GRANT SELECT, INSERT ON TABLE "${s.schema}"."audit_log" TO "${s.node}";\n`);
    expect(printed.trimEnd().endsWith('COMMIT;')).toBe(true);
    expect(await bulwark(s, s.owner, 'grants', '--role', s.node, '--apply')).toMatch(/granted {3}node privileges to bw_node_\w+ in schema bulwark_roles_\w+/);
    expect(await bulwark(s, s.owner, 'grants', '--role', s.reader, '--reader', '--apply')).toMatch(/granted {3}reader privileges/);

    // A journal across a month boundary: the node's batches create February's partitions.
    const journal = await Journal.open(path.join(s.dataDir, 'journal'), { fsync: false });
    cleanups.push(() => journal.close());
    appendFlow(journal, new SyntheticFlow(11), 1, 300, BigInt(Date.parse('2026-01-31T23:59:59.850Z')) * 1_000_000n);
    await journal.flush();
    const settings = databaseSettings({ ...DATABASE_DEFAULTS, url: s.url(s.node), readUrl: s.url(s.reader), applicationName: `bwp_${s.schema}`, drainTimeoutMs: 20_000 }, s.dataDir);
    const logs: { level: string; msg: string; data?: Record<string, unknown> }[] = [];
    const db = NodeDatabase.start(settings, journal, (level, msg, data) => logs.push({ level, msg, ...(data !== undefined ? { data } : {}) }));
    cleanups.push(() => db.stop());
    // a privilege missing from the map shows as the projector going down: fail with its reason
    await Promise.race([
      db.whenProjected(journal.lastSeq),
      new Promise<never>((_, reject) => {
        const t = setInterval(() => {
          const st = db.status();
          if (st.status === 'down') reject(new Error(`projector down: ${st.error ?? '?'}`));
        }, 20);
        cleanups.push(async () => clearInterval(t));
      }),
    ]);
    expect(db.status()).toMatchObject({ status: 'up', lag: 0, malformed: 0 });
    // maintenance (partitions ahead, retention) ran without a warning; pruning is the owner's
    expect(logs.filter((l) => l.level !== 'info')).toEqual([]);
    expect(logs.some((l) => /audit_log pruning is left to the schema owner/.test(l.msg))).toBe(true);
    // The reader (the node's read pool, on DATABASE_READ_URL): the dashboard queries work.
    expect(await openOrders(db.reader)).toBeInstanceOf(Array);
    expect((await todaysFills(db.reader, { day: new Date('2026-01-31T12:00:00Z') })).length).toBeGreaterThan(0);
    const positions = await currentPositions(db.reader);
    expect(positions.length).toBeGreaterThan(0);
    expect(await pnlSeries(db.reader, { interval: 'hour', account: positions[0]!.account, from: new Date('2026-01-31T00:00:00Z'), to: new Date('2026-02-01T12:00:00Z') })).not.toHaveLength(0);
    await db.stop();
    await expectMirrors({ open: () => openPostgres(s.url(s.owner), `bwt_${s.schema}`) } as Target, journal.dir);
    const parts = await owner.query<{ name: string; owner: string }>(
      `SELECT c.relname AS name, pg_get_userbyid(c.relowner) AS owner FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid
        WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) AND c.relname LIKE '%_p202602'`,
    );
    expect(parts.rows.map((r) => r.name).sort()).toEqual(['audit_log_p202602', 'fills_p202602', 'market_data_p202602', 'performance_p202602', 'positions_p202602']);
    expect(new Set(parts.rows.map((r) => r.owner))).toEqual(new Set([s.owner]));
    // ... and nothing else
    const reader = await as(s, s.reader);
    await expect(reader.query(`UPDATE orders SET status = status`)).rejects.toThrow(/permission denied for table orders/);
    await expect(reader.query(`INSERT INTO audit_log_prunes_journaled VALUES (1, 1)`)).rejects.toThrow(/permission denied for table audit_log_prunes_journaled/);
    await expect(reader.query(`SELECT bulwark_ensure_partitions(now(), now())`)).rejects.toThrow(/permission denied for function bulwark_ensure_partitions/);

    // The node: privileges refuse every change to the audit trail but INSERT, before any trigger.
    const node = await as(s, s.node);
    for (const sql of [`UPDATE audit_log SET type = 'x'`, 'DELETE FROM audit_log', 'TRUNCATE audit_log']) {
      await expect(node.query(sql), sql).rejects.toThrow(/permission denied for table audit_log$/);
    }
    await expect(node.query(`UPDATE audit_log_p202602 SET type = 'x'`)).rejects.toThrow(/permission denied for table audit_log_p202602/);
    await expect(node.query('DELETE FROM audit_log_prunes')).rejects.toThrow(/permission denied for table audit_log_prunes/);
    await expect(node.query('DELETE FROM audit_log_prunes_journaled')).rejects.toThrow(/permission denied for table audit_log_prunes_journaled/);
    await expect(node.query('SELECT * FROM bulwark_prune_audit_log(1)')).rejects.toThrow(/permission denied for function bulwark_prune_audit_log/);
    await expect(node.query('DROP TABLE audit_log_p202602')).rejects.toThrow(/must be owner/);
    await expect(node.query('CREATE TABLE scratch (x int)')).rejects.toThrow(/permission denied for schema/);
    // ... while what it is granted works: partitions ahead and retention run as their owner
    expect((await node.query<{ created: number }>(`SELECT bulwark_ensure_partitions('2031-01-01', '2031-02-01') AS created`)).rows[0]!.created).toBeGreaterThan(0);
    await node.query('SELECT bulwark_apply_retention(7)');

    // A build with a migration the owner has not applied: the node says who must run it.
    const next = { version: MIGRATIONS.length + 1, name: 'a later build', sql: 'CREATE TABLE later_build (x int)' };
    const refused = await migrate(node, [...MIGRATIONS, next]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(MigrationPrivilegeError);
    expect(String((refused as Error).message)).toMatch(new RegExp(`needs migration ${next.version} .*run \`bulwark db migrate\` as the schema owner`));
    // and with the schema at this build's version, starting is read-only
    expect(await migrate(node)).toEqual([]);

    // The owner prunes, by hand.
    expect(await bulwark(s, s.owner, 'prune-audit', '--years', '1')).toMatch(/dropped {3}/);
  });
});

