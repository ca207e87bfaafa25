/**
 * Shared fixtures for the storage tests: one suite, two drivers. PGlite always runs. PostgreSQL
 * runs when DATABASE_URL points at a server (CI sets it); each run gets a fresh schema
 * (bulwark_test_<random>, selected through the connection's search_path) that is dropped after.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import pg from 'pg';
import { describe, expect } from 'vitest';
import { Journal } from '../../src/engine/journal.js';
import { registerDbCommands } from '../../src/storage/cli.js';
import { databaseSettings, DATABASE_DEFAULTS, type DatabaseConfigSection, type DatabaseSettings, type DriverKind } from '../../src/storage/settings.js';
import { openPglite, openPostgres, type SqlClient } from '../../src/storage/sql-client.js';
import { SyntheticFlow } from '../../src/storage/synthetic-flow.js';

export const PG_URL = process.env.DATABASE_URL;

/**
 * Declares the suite once per driver. The PostgreSQL variant is skipped, with the reason in its
 * name, when DATABASE_URL is not set: a laptop without a server still runs the PGlite variant.
 */
export function describeDrivers(title: string, body: (kind: DriverKind) => void): void {
  describe(`${title} [pglite]`, () => body('pglite'));
  describe.skipIf(!PG_URL)(`${title} [postgres${PG_URL ? '' : ' — skipped: DATABASE_URL is not set'}]`, () => body('postgres'));
}

export function tmpDir(prefix = 'bulwark-db-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface Target {
  kind: DriverKind;
  dataDir: string;
  settings: DatabaseSettings;
  /** The config section a node would be given for this target. */
  section: DatabaseConfigSection;
  /** PostgreSQL only: the test schema and the application_name of its projector. */
  schema?: string;
  open(): Promise<SqlClient>;
  /** PostgreSQL only: a superuser connection outside the test schema (to kill backends). */
  admin?: pg.Client;
  cleanup(): Promise<void>;
}

function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  const prior = u.searchParams.get('options');
  u.searchParams.set('options', [prior, `-c search_path=${schema}`].filter(Boolean).join(' '));
  return u.toString();
}

export async function createTarget(kind: DriverKind, overrides: Partial<DatabaseConfigSection> = {}): Promise<Target> {
  const dataDir = tmpDir();
  if (kind === 'pglite') {
    const section: DatabaseConfigSection = { ...DATABASE_DEFAULTS, drainTimeoutMs: 20_000, ...overrides };
    const settings = databaseSettings(section, dataDir);
    return {
      kind,
      dataDir,
      settings,
      section,
      open: () => openPglite(settings.pgliteDir),
      cleanup: async () => fs.rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const schema = `bulwark_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const url = withSearchPath(PG_URL!, schema);
  const section: DatabaseConfigSection = { ...DATABASE_DEFAULTS, drainTimeoutMs: 20_000, url, applicationName: `bwp_${schema}`, ...overrides };
  const settings = databaseSettings(section, dataDir);
  return {
    kind,
    dataDir,
    settings,
    section,
    schema,
    admin,
    open: () => openPostgres(url, `bwt_${schema}`),
    cleanup: async () => {
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE $1`, [`%${schema}`]).catch(() => {});
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Appends `orders` synthetic orders (a system.start first when the journal is empty). */
export function appendFlow(journal: Journal, flow: SyntheticFlow, fromOrder: number, orders: number, t0 = 1_767_225_600_000_000_000n): void {
  let seq = journal.lastSeq;
  if (seq === 0) {
    const s = flow.start();
    journal.append(s.kind, ++seq, t0, s.payload);
  }
  for (let i = fromOrder; i < fromOrder + orders; i++) {
    const ts = t0 + BigInt(i) * 1_000_000n;
    for (const r of flow.order(i, ts)) journal.append(r.kind, ++seq, ts, r.payload);
  }
}

/** What the database must contain, read from the journal itself. */
export interface JournalTruth {
  lastSeq: number;
  orderIds: Set<string>;
  fillIds: string[];
  orderEvents: number;
  positions: number;
  marketData: number;
}

export function journalTruth(dir: string): JournalTruth {
  const t: JournalTruth = { lastSeq: 0, orderIds: new Set(), fillIds: [], orderEvents: 0, positions: 0, marketData: 0 };
  for (const e of Journal.read(dir, { verify: true })) {
    t.lastSeq = e.seq;
    const p = e.payload as Record<string, unknown> & { type: string };
    if (e.kind === 'event' && p.type === 'order.massCanceled') {
      // one row per order the mass cancel ended
      for (const o of p.orders as { id: string }[]) {
        t.orderEvents++;
        t.orderIds.add(o.id);
      }
    } else if (e.kind === 'event' && p.type.startsWith('order.')) {
      t.orderEvents++;
      const o = p.order as { id?: string } | undefined;
      if (o?.id !== undefined) t.orderIds.add(o.id);
    } else if (e.kind === 'event' && p.type === 'fill') t.fillIds.push((p.fill as { id: string }).id);
    else if (e.kind === 'event' && p.type === 'position') t.positions++;
    else if (e.kind === 'input' && (p.type === 'md.quote' || p.type === 'md.trade')) t.marketData++;
  }
  return t;
}

export interface DbContents {
  lastSeq: number;
  auditCount: number;
  auditMin: number;
  auditMax: number;
  /** audit rows whose prev_hash is not the previous row's hash (must be 0). */
  brokenLinks: number;
  orderIds: Set<string>;
  fillIds: string[];
  orderEvents: number;
  positions: number;
  marketData: number;
}

export async function dbContents(db: SqlClient): Promise<DbContents> {
  const one = async (sql: string): Promise<number> => Number(Object.values((await db.query<Record<string, unknown>>(sql)).rows[0]!)[0]);
  const orders = await db.query<{ id: string }>('SELECT id FROM orders');
  const fills = await db.query<{ id: string }>('SELECT id FROM fills');
  return {
    lastSeq: await one(`SELECT last_seq FROM projector_state WHERE name = 'journal'`),
    auditCount: await one('SELECT count(*) FROM audit_log'),
    auditMin: await one('SELECT coalesce(min(seq), 0) FROM audit_log'),
    auditMax: await one('SELECT coalesce(max(seq), 0) FROM audit_log'),
    brokenLinks: await one(`SELECT count(*) FROM (SELECT seq, prev_hash, lag(hash) OVER (ORDER BY seq) AS prior FROM audit_log) x WHERE prior IS NOT NULL AND prior <> prev_hash`),
    orderIds: new Set(orders.rows.map((r) => r.id)),
    fillIds: fills.rows.map((r) => r.id),
    orderEvents: await one('SELECT count(*) FROM order_events'),
    positions: await one('SELECT count(*) FROM positions'),
    marketData: await one('SELECT count(*) FROM market_data'),
  };
}

export const sorted = (xs: Iterable<string>): string[] => [...xs].sort();

/** Every journaled record is in the database exactly once, and what was derived from it matches. */
export async function expectMirrors(t: Target, journalDir: string, truth: JournalTruth = journalTruth(journalDir)): Promise<void> {
  const db = await t.open();
  try {
    const c = await dbContents(db);
    expect(c.lastSeq).toBe(truth.lastSeq);
    expect(c.auditCount).toBe(truth.lastSeq);
    expect(c.auditMin).toBe(1);
    expect(c.auditMax).toBe(truth.lastSeq);
    expect(c.brokenLinks).toBe(0);
    expect(sorted(c.orderIds)).toEqual(sorted(truth.orderIds));
    expect(c.fillIds.length).toBe(truth.fillIds.length);
    expect(sorted(c.fillIds)).toEqual(sorted(truth.fillIds));
    expect(c.orderEvents).toBe(truth.orderEvents);
    expect(c.positions).toBe(truth.positions);
    expect(c.marketData).toBe(truth.marketData);
  } finally {
    await db.close();
  }
}

/**
 * Runs `bulwark db <args>` in-process with `dataDir` and the configuration file `configFile`
 * holding `configYaml`; returns what it printed. DATABASE_URL from the test run's environment is
 * hidden meanwhile, so that the file decides the database. The CLI's own error, if any, is thrown
 * (commander's message is not printed).
 */
export async function runDbCli(dataDir: string, configFile: string, configYaml: string, args: readonly string[]): Promise<string> {
  let out = '';
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {} });
  program.command('noop');
  registerDbCommands(program, { out: (x) => (out += x) });
  const config = path.join(dataDir, configFile);
  fs.writeFileSync(config, configYaml);
  const saved = process.env.DATABASE_URL;
  delete process.env.DATABASE_URL;
  try {
    await program.parseAsync(['db', ...args, '-d', dataDir, '-c', config], { from: 'user' });
  } finally {
    if (saved !== undefined) process.env.DATABASE_URL = saved;
  }
  return out;
}
