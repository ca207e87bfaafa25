/**
 * Cross-check of the database's audit_log table against the journal. The projector (src/storage)
 * mirrors every journal record into
 *
 *   audit_log(seq, ts_ns bigint, ts timestamptz, kind, type, actor_id, payload json,
 *             prev_hash bytea, hash bytea)        -- key (seq, ts), monthly partitions on ts;
 *                                                 -- triggers refuse UPDATE, DELETE, TRUNCATE
 *
 * and this module checks every row it holds against the record with the same seq: same ts, kind,
 * type, actor (payload.actor.id), payload (as JSON values: jsonb does not keep key order or
 * spacing, so the row alone cannot be re-hashed), prev_hash and hash. Rows may be missing only at
 * the ends: below the oldest retained seq (pruned by dropping whole monthly partitions once past
 * the retention period and in the WORM archive: bulwark_prune_audit_log) and above the
 * projector's high-water mark (lag). A hole in between, a row with no journal record, or any
 * difference is a failure naming the seq.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SqlClient, SqlSession } from '../storage/sql-client.js';
import { actorIdOf } from './records.js';
import type { JournalEntry } from '../engine/journal.js';

export interface DbProblem {
  seq: number;
  message: string;
}

export interface DbSummary {
  target: string;
  rows: number;
  minSeq: number | null;
  maxSeq: number | null;
  compared: number;
}

interface Row {
  seq: string;
  ts_ns: string;
  ts_us: string | null;
  kind: string;
  type: string;
  actor_id: string | null;
  /** jsonb as text (parsed here: faster than the drivers' own jsonb decoding) */
  payload: string;
  prev_hash: string | null;
  hash: string | null;
}

/** Deterministic JSON: object keys sorted, so two equal JSON values give equal strings. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

/** The database to compare with: DATABASE_URL, else the embedded PGlite under <dataDir>/db if present. */
export async function openAuditDatabase(dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<{ client: SqlClient; target: string } | null> {
  const url = env.DATABASE_URL === '' ? undefined : env.DATABASE_URL;
  const dbDir = path.resolve(dataDir, 'db');
  if (url === undefined && !fs.existsSync(dbDir)) return null;
  const { openSqlClient } = await import('../storage/sql-client.js');
  const { databaseSettings, describeTarget, isPostgresUrl, POSTGRES_URL_MESSAGE } = await import('../storage/settings.js');
  if (url !== undefined && !isPostgresUrl(url)) throw new Error(`DATABASE_URL: ${POSTGRES_URL_MESSAGE}`);
  const settings = databaseSettings(url !== undefined ? { url, applicationName: 'bulwark-audit-verify' } : {}, dataDir);
  return { client: await openSqlClient(settings), target: describeTarget(settings) };
}

const PAGE = 10_000;

/** Walks audit_log in seq order alongside the journal. Feed journal entries in order with check(). */
export class AuditLogComparer {
  private rows: Row[] = [];
  private at = 0;
  private cursor = 0;
  private exhausted = false;
  private compared = 0;
  private minSeq: number | null = null;
  private maxSeq: number | null = null;
  private rowCount = 0;
  private readonly problems: DbProblem[] = [];

  constructor(
    private readonly db: SqlSession,
    readonly target: string,
  ) {}

  /** False when there is no audit_log table (nothing to compare). */
  async init(): Promise<boolean> {
    const t = await this.db.query<{ present: boolean }>(`SELECT to_regclass('audit_log') IS NOT NULL AS present`);
    if (t.rows[0]?.present !== true) return false;
    const r = await this.db.query<{ min: string | null; max: string | null; n: string }>('SELECT min(seq)::text AS min, max(seq)::text AS max, count(*)::text AS n FROM audit_log');
    const row = r.rows[0]!;
    this.minSeq = row.min === null ? null : Number(row.min);
    this.maxSeq = row.max === null ? null : Number(row.max);
    this.rowCount = Number(row.n);
    if (this.minSeq !== null) this.cursor = this.minSeq - 1;
    return true;
  }

  private async fill(): Promise<void> {
    if (this.exhausted) return;
    const r = await this.db.query<Row>(
      `SELECT seq::text AS seq, ts_ns::text AS ts_ns, (extract(epoch from ts) * 1000000)::bigint::text AS ts_us,
              kind, type, actor_id, payload::text AS payload, encode(prev_hash, 'hex') AS prev_hash, encode(hash, 'hex') AS hash
         FROM audit_log WHERE audit_log.seq > $1 ORDER BY audit_log.seq LIMIT ${PAGE}`,
      [this.cursor],
    );
    this.rows = r.rows;
    this.at = 0;
    if (r.rows.length < PAGE) this.exhausted = true;
    if (r.rows.length > 0) this.cursor = Number(r.rows[r.rows.length - 1]!.seq);
  }

  private problem(seq: number, message: string): void {
    this.problems.push({ seq, message });
  }

  /** Whether audit_log's range holds `seq`: check() compares nothing outside it. */
  covers(seq: number): boolean {
    return this.minSeq !== null && seq >= this.minSeq && seq <= this.maxSeq!;
  }

  /** Compares the row for `e` (prevHash: the hash of e.seq - 1, zeros for seq 1). */
  async check(e: JournalEntry, prevHash: Buffer): Promise<void> {
    if (!this.covers(e.seq)) return;
    if (this.at >= this.rows.length) await this.fill();
    const row = this.rows[this.at];
    const rowSeq = row === undefined ? Infinity : Number(row.seq);
    if (rowSeq !== e.seq) {
      this.problem(e.seq, `audit_log has no row for seq ${e.seq} (rows ${this.minSeq}..${this.maxSeq} must be contiguous)`);
      return;
    }
    this.at++;
    this.compared++;
    const diffs: string[] = [];
    if (row!.ts_ns !== e.ts.toString()) diffs.push(`ts_ns ${row!.ts_ns} vs ${e.ts}`);
    if (row!.ts_us !== null) {
      const us = e.ts / 1000n;
      const d = BigInt(row!.ts_us) - us;
      if (d > 1n || d < -1n) diffs.push(`ts ${row!.ts_us} µs vs ${us} µs`);
    }
    if (row!.kind !== e.kind) diffs.push(`kind ${row!.kind} vs ${e.kind}`);
    if (row!.type !== e.payload.type) diffs.push(`type ${row!.type} vs ${e.payload.type}`);
    const actor = actorIdOf(e.payload);
    if ((row!.actor_id ?? null) !== actor) diffs.push(`actor_id ${String(row!.actor_id)} vs ${String(actor)}`);
    if (canonicalJson(JSON.parse(row!.payload) as unknown) !== canonicalJson(e.payload)) diffs.push('payload differs');
    const prev = row!.prev_hash;
    const prevOk = prev === null ? e.seq === 1 : prev === prevHash.toString('hex');
    if (!prevOk) diffs.push(`prev_hash ${prev ?? 'null'} vs ${prevHash.toString('hex')}`);
    const hash = e.hash.toString('hex');
    if (row!.hash !== hash) diffs.push(`hash ${row!.hash ?? 'null'} vs ${hash}`);
    if (diffs.length > 0) this.problem(e.seq, `audit_log row ${e.seq} differs from the journal: ${diffs.join('; ')}`);
  }

  /** After the last journal record (`lastSeq`): rows beyond it have no record. */
  async finish(lastSeq: number): Promise<{ problems: DbProblem[]; summary: DbSummary; notes: string[] }> {
    const notes: string[] = [];
    if (this.maxSeq !== null && this.maxSeq > lastSeq) {
      const r = await this.db.query<{ seq: string }>('SELECT min(seq)::text AS seq FROM audit_log WHERE seq > $1', [lastSeq]);
      const first = Number(r.rows[0]!.seq);
      this.problem(first, `audit_log has rows from seq ${first} to ${this.maxSeq} that the journal (ending at ${lastSeq}) does not hold`);
    }
    if (this.minSeq !== null && this.minSeq > 1) notes.push(`database rows start at seq ${this.minSeq} (older rows pruned or not projected)`);
    if (this.maxSeq !== null && this.maxSeq < lastSeq) notes.push(`database rows end at seq ${this.maxSeq}, ${lastSeq - this.maxSeq} records behind the journal (projector lag, or the newest rows were removed)`);
    if (this.minSeq === null) notes.push('audit_log is empty');
    return {
      problems: this.problems,
      summary: { target: this.target, rows: this.rowCount, minSeq: this.minSeq, maxSeq: this.maxSeq, compared: this.compared },
      notes,
    };
  }
}
