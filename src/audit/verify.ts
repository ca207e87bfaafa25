/**
 * `bulwark audit verify`: everything an examiner needs to conclude that the record is complete and
 * untouched, recomputed from the files and trusting nothing the node computed:
 *
 *  1. the journal: every segment header, record checksum, seq contiguity and the SHA-256 chain
 *     from seq 1 (verifyJournal);
 *  2. the Merkle tree over all records, rebuilt from scratch, and every signed checkpoint — in
 *     checkpoints.jsonl and journaled as 'audit.checkpoint' notes — checked for a valid Ed25519
 *     signature by a trusted key and a root equal to the recomputed root at its size;
 *  3. when a database is configured, every audit_log row against its journal record.
 *
 * Read-only. Run it on a stopped node, a copy, or the WORM archive (verify --from-archive): a
 * journal that is being written ends in a partial record, which reads as a torn tail.
 *
 * The first bad seq has the journal's meaning: every record before it is verified. A consistent
 * rewrite of the chain from some record onwards is caught by the checkpoints; it is then located
 * only to "after the last checkpoint that still matches" (the first seq named is that size + 1),
 * or exactly when the database still holds the original rows.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { framePayload, Journal, verifyJournal, type JournalKind, type JournalPayload, type JournalVerification } from '../engine/journal.js';
import { CHECKPOINT_NOTE_EVENT, checkpointSignatureValid, parseCheckpoint, readCheckpointFile, type Checkpoint } from './checkpoint.js';
import { AuditLogComparer, openAuditDatabase } from './db.js';
import { auditDir, localPublicKeys, parsePublicKey, type PublicKeyInfo } from './keys.js';
import { MerkleFrontier, recordLeafHash, rootAt } from './merkle.js';
import { CHECKPOINTS_FILE, TREE_DIR } from './paths.js';
import { listSegments, Needle, type SegmentInfo } from './records.js';
import { JournalLeafSource, MemoryLevelStore, STORED_MIN_LEVEL, TreeReader } from './tree-store.js';
import type { SqlSession } from '../storage/sql-client.js';
import { spawnWorker } from '../storage/worker-spawn.js';

export type ProblemArea = 'journal' | 'checkpoint' | 'database' | 'keys';

export interface AuditProblem {
  area: ProblemArea;
  /** The first record that cannot be trusted, when a record is implicated. */
  seq: number | null;
  message: string;
}

export interface CheckpointResult {
  treeSize: number;
  rootHash: string;
  timestamp: string;
  keyId: string;
  /** 'jsonl:<line>' and/or 'journal:<seq>' */
  sources: string[];
  signature: 'valid' | 'invalid' | 'unknown-key';
  root: 'match' | 'mismatch' | 'beyond-journal';
}

export interface AuditReport {
  ok: boolean;
  firstBadSeq: number | null;
  problems: AuditProblem[];
  /** Problems not listed (the list is capped). */
  moreProblems: number;
  warnings: string[];
  notes: string[];
  journal: { dir: string; segments: number; records: number; lastSeq: number; lastHash: string | null; root: string };
  checkpoints: { total: number; verified: number; latest: CheckpointResult | null; uncheckable: number; list: CheckpointResult[] };
  keys: { keyId: string; source: string }[];
  repairs: { seq: number; detail: Record<string, unknown> }[];
  database: { target: string; rows: number; minSeq: number | null; maxSeq: number | null; compared: number } | null;
  elapsedMs: number;
}

export interface VerifyOptions {
  dataDir: string;
  /** Trust only these keys (obtained out of band). Default: keys stored with the data. */
  publicKeys?: PublicKeyInfo[];
  /** 'auto': DATABASE_URL, else <dataDir>/db when it exists. */
  database?: 'auto' | 'none' | { session: SqlSession; target: string };
  env?: NodeJS.ProcessEnv;
  /** The data dir is a copy of the WORM archive: it ends at a sealed segment. */
  fromArchive?: boolean;
  /**
   * Check the chain (verifyJournal) on a worker thread while this one reads the records for the
   * tree and the notes. Default: when the journal holds at least CHAIN_THREAD_MIN_BYTES.
   */
  chainOnThread?: boolean;
}

/** Below this much journal, starting a thread costs more than the overlap saves. */
export const CHAIN_THREAD_MIN_BYTES = 8 * 1024 * 1024;

const MAX_PROBLEMS = 100;

class Problems {
  readonly list: AuditProblem[] = [];
  more = 0;
  firstBadSeq: number | null = null;
  add(area: ProblemArea, seq: number | null, message: string): void {
    if (seq !== null && (this.firstBadSeq === null || seq < this.firstBadSeq)) this.firstBadSeq = seq;
    if (this.list.length < MAX_PROBLEMS) this.list.push({ area, seq, message });
    else this.more++;
  }
}

function identity(c: Checkpoint): string {
  return `${c.treeSize}:${c.rootHash}:${c.timestamp}:${c.signature}`;
}

/** Entries of a stored level file (read-only; the node's FileLevelStore repairs, this does not). */
function readLevelFile(dir: string, level: number): Buffer {
  try {
    return fs.readFileSync(path.join(dir, `L${String(level).padStart(2, '0')}.bin`));
  } catch {
    return Buffer.alloc(0);
  }
}

function journalBytes(journalDir: string, segments: SegmentInfo[]): number {
  let n = 0;
  for (const s of segments) {
    try {
      n += fs.statSync(path.join(journalDir, s.name)).size;
    } catch {
      // gone meanwhile: verifyJournal will say so
    }
  }
  return n;
}

/**
 * verifyJournal on a worker thread of its own (src/audit/verify-worker.ts). Rejects if the thread
 * cannot start or fails; the caller then runs it here.
 */
function verifyJournalOnThread(journalDir: string): Promise<JournalVerification> {
  // Started synchronously (spawnWorker imported statically): the pass that runs beside it does
  // not yield, and a dynamic import here would not resolve before the pass had ended.
  return new Promise<JournalVerification>((resolve, reject) => {
    const w = spawnWorker(new URL('./verify-worker.js', import.meta.url), import.meta.url, { name: 'bulwark-audit-verify', workerData: { journalDir } });
    w.once('message', (r: JournalVerification) => {
      resolve(r);
      void w.terminate();
    });
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`the chain-checking thread exited (code ${code})`)));
  });
}

/**
 * Which payloads may be a system.note, without parsing them. JSON spells the string "system.note"
 * either with those bytes or with an escape (`\u002e`, `\u0073`, ...), and every escape starts with
 * a backslash: a payload holding neither cannot parse to { "type": "system.note" }, whatever JSON
 * the file holds, so none is missed. The node's own payloads (JSON.stringify) carry a backslash
 * only in strings that need one, which few records have.
 */
export class NoteFilter {
  private readonly text = new Needle(Buffer.from('system.note'));
  private readonly escape = new Needle(Buffer.from('\\'));

  /** Payload bytes segment[from, to) of frames asked for in order. */
  mayHold(segment: Buffer, from: number, to: number): boolean {
    return this.text.within(segment, from, to) || this.escape.within(segment, from, to);
  }
}

/** What one pass over the records found, applied to the report only if the pass is kept. */
interface RecordsPass {
  store: MemoryLevelStore;
  frontier: MerkleFrontier;
  /** Roots at the tree sizes of the checkpoints on file, taken as the pass reached them. */
  rootsAt: Map<number, string>;
  journaled: { seq: number; cp: Checkpoint }[];
  journalKeys: Map<string, PublicKeyInfo>;
  repairs: { seq: number; detail: Record<string, unknown> }[];
  problems: AuditProblem[];
  warnings: string[];
  lastHash: Buffer | null;
  /** Reading stopped with this error after frontier.size records. */
  failure?: string;
}

/**
 * Reads records 1..toSeq (to the end when undefined): each one's leaf into the tree, the notes
 * that bear on the verdict, and, with a comparer, each audit_log row against its record.
 * Payloads are parsed only where something is read from them: the notes (checkpoints, keys,
 * repairs; NoteFilter) and the records the database is compared on. verifyJournal checks that
 * every payload is a JSON object with a string "type".
 */
async function recordsPass(journalDir: string, toSeq: number | undefined, verify: boolean, fileSizes: Set<number>, db: AuditLogComparer | null): Promise<RecordsPass> {
  const store = new MemoryLevelStore();
  const pass: RecordsPass = {
    store,
    frontier: new MerkleFrontier(0, [], (level, _index, hash) => store.append(level, hash), STORED_MIN_LEVEL),
    rootsAt: new Map(),
    journaled: [],
    journalKeys: new Map(),
    repairs: [],
    problems: [],
    warnings: [],
    lastHash: null,
  };
  if (toSeq !== undefined && toSeq < 1) return pass;
  const { frontier } = pass;
  const notes = new NoteFilter();
  let prevHash: Buffer = Buffer.alloc(32);
  try {
    // Unverified, each record's hash comes from its successor's prevHash (verifyJournal checks
    // them equal to SHA-256 of the body); past damage that successor is not trustworthy.
    for (const f of Journal.frames(journalDir, { ...(toSeq !== undefined ? { toSeq } : {}), verify })) {
      frontier.push(recordLeafHash(f.hash));
      if (fileSizes.has(frontier.size)) pass.rootsAt.set(frontier.size, frontier.root().toString('hex'));
      const compare = db !== null && db.covers(f.seq);
      if (compare || notes.mayHold(f.segment, f.payloadStart, f.end)) {
        const p = framePayload(f);
        if (p.type === 'system.note') noteSeen(pass, f.seq, f.kind, p);
        if (compare) await db.check({ seq: f.seq, ts: f.ts, kind: f.kind, payload: p, hash: f.hash }, prevHash);
      }
      prevHash = f.hash;
      pass.lastHash = f.hash;
    }
  } catch (e) {
    pass.failure = (e as Error).message;
  }
  return pass;
}

function noteSeen(pass: RecordsPass, seq: number, kind: JournalKind, p: JournalPayload): void {
  const detail = (p.detail ?? {}) as Record<string, unknown>;
  if (p.event === CHECKPOINT_NOTE_EVENT) {
    const c = parseCheckpoint(detail);
    if (typeof c === 'string') pass.problems.push({ area: 'checkpoint', seq, message: `seq ${seq} is an audit.checkpoint note that is not a valid checkpoint: ${c}` });
    else if (c.treeSize >= seq) pass.problems.push({ area: 'checkpoint', seq, message: `seq ${seq} journals a checkpoint of ${c.treeSize} records, which cannot include itself` });
    else pass.journaled.push({ seq, cp: c });
  } else if (p.event === 'audit.key' && kind === 'input' && typeof detail.publicKey === 'string') {
    try {
      const k = parsePublicKey(detail.publicKey, `seq ${seq}`);
      pass.journalKeys.set(k.keyId, k);
    } catch (err) {
      pass.warnings.push((err as Error).message);
    }
  } else if (p.event === 'journal.repaired' && kind === 'input') {
    pass.repairs.push({ seq, detail });
  } else if (p.event === 'audit.checkpointMismatch' && kind === 'input') {
    pass.warnings.push(`seq ${seq}: the node reported at start that the journal did not match its last checkpoint (${JSON.stringify(detail)})`);
  }
}

export async function verifyAudit(opts: VerifyOptions): Promise<AuditReport> {
  const t0 = process.hrtime.bigint();
  const dataDir = path.resolve(opts.dataDir);
  const journalDir = path.join(dataDir, 'journal');
  const adir = auditDir(dataDir);
  const problems = new Problems();
  const warnings: string[] = [];
  const notes: string[] = [];
  const report: AuditReport = {
    ok: false,
    firstBadSeq: null,
    problems: problems.list,
    moreProblems: 0,
    warnings,
    notes,
    journal: { dir: journalDir, segments: 0, records: 0, lastSeq: 0, lastHash: null, root: '' },
    checkpoints: { total: 0, verified: 0, latest: null, uncheckable: 0, list: [] },
    keys: [],
    repairs: [],
    database: null,
    elapsedMs: 0,
  };
  const finish = (): AuditReport => {
    report.firstBadSeq = problems.firstBadSeq;
    report.moreProblems = problems.more;
    report.ok = problems.list.length === 0;
    report.elapsedMs = Math.round(Number(process.hrtime.bigint() - t0) / 1e6);
    return report;
  };

  if (!fs.existsSync(journalDir)) {
    problems.add('journal', 1, `${journalDir} does not exist: there is no journal to verify`);
    return finish();
  }

  // 1. The journal, structurally and as a chain: on a thread of its own when the journal is
  // large, while this one runs the pass over the records (step 4) beside it.
  const segments = listSegments(journalDir);
  report.journal.segments = segments.length;
  const concurrent = opts.chainOnThread ?? journalBytes(journalDir, segments) >= CHAIN_THREAD_MIN_BYTES;
  const chain: Promise<JournalVerification> = concurrent ? verifyJournalOnThread(journalDir) : Promise.resolve(verifyJournal(journalDir));

  // 2. Keys.
  const trusted = new Map<string, { info: PublicKeyInfo; source: string }>();
  if (opts.publicKeys !== undefined && opts.publicKeys.length > 0) {
    for (const k of opts.publicKeys) trusted.set(k.keyId, { info: k, source: 'pinned' });
  } else {
    for (const [id, info] of localPublicKeys(dataDir)) trusted.set(id, { info, source: `${path.join(adir, 'keys')}` });
    warnings.push('checkpoint signatures were checked with public keys stored alongside the data; pin the key you obtained independently with --public-key');
  }

  // 3. Checkpoints on file.
  const cpFile = readCheckpointFile(path.join(adir, CHECKPOINTS_FILE));
  if (cpFile.tornBytes > 0) problems.add('checkpoint', null, `${CHECKPOINTS_FILE} ends in ${cpFile.tornBytes} bytes of a partial line (a crash while appending; the node repairs it on start)`);
  for (const bad of cpFile.invalid) problems.add('checkpoint', null, `${CHECKPOINTS_FILE} line ${bad.line}: ${bad.reason}`);
  const byIdentity = new Map<string, { cp: Checkpoint; sources: string[] }>();
  const fileSizes = new Set<number>();
  let prevFile: Checkpoint | undefined;
  for (const { line, checkpoint } of cpFile.checkpoints) {
    const id = identity(checkpoint);
    const entry = byIdentity.get(id) ?? { cp: checkpoint, sources: [] };
    entry.sources.push(`jsonl:${line}`);
    byIdentity.set(id, entry);
    fileSizes.add(checkpoint.treeSize);
    if (prevFile !== undefined && (checkpoint.treeSize < prevFile.treeSize || BigInt(checkpoint.timestamp) < BigInt(prevFile.timestamp))) {
      problems.add('checkpoint', null, `${CHECKPOINTS_FILE} line ${line}: checkpoint ${checkpoint.treeSize} at ${checkpoint.timestamp} goes back from ${prevFile.treeSize} at ${prevFile.timestamp}`);
    }
    prevFile = checkpoint;
  }
  if (cpFile.checkpoints.length === 0) notes.push(`no checkpoints in ${CHECKPOINTS_FILE}`);

  let dbSource: { session: SqlSession; target: string } | null = null;
  let closeDb: (() => Promise<void>) | null = null;
  const dbUnreadable = (e: unknown): void => problems.add('database', null, `the database could not be read: ${(e as Error).message}`);
  /** A comparer at the start of audit_log; null when there is none to compare (a warning) or it cannot be read (a problem). */
  const startComparer = async (): Promise<AuditLogComparer | null> => {
    if (dbSource === null) return null;
    try {
      const c = new AuditLogComparer(dbSource.session, dbSource.target);
      if (await c.init()) return c;
      warnings.push(`${dbSource.target} has no audit_log table; the database was not compared`);
      return null;
    } catch (e) {
      dbUnreadable(e);
      return null;
    }
  };
  if (opts.database !== 'none') {
    try {
      if (typeof opts.database === 'object') {
        dbSource = opts.database;
      } else {
        const opened = await openAuditDatabase(dataDir, opts.env ?? process.env);
        if (opened !== null) {
          dbSource = { session: opened.client, target: opened.target };
          closeDb = () => opened.client.close();
        }
      }
    } catch (e) {
      dbUnreadable(e);
    }
  }

  // 4. One pass over the records: the tree, roots at the sizes on file, notes, database rows.
  let jv: JournalVerification;
  let limit: number;
  let pass: RecordsPass | undefined;
  try {
    let db = await startComparer();
    if (concurrent) {
      // Optimistic: read to the end as if the chain held (hashes taken from the successors'
      // prevHash, as Journal.read does unverified). Kept only if the chain check then finds the
      // journal intact and of the same length; otherwise the pass is run again below, up to the
      // first bad record, recomputing each hash, with the database comparison started over.
      const [checked, optimistic] = await Promise.all([
        chain.catch(() => verifyJournal(journalDir)),
        recordsPass(journalDir, undefined, false, fileSizes, db),
      ]);
      jv = checked;
      if (jv.ok && optimistic.failure === undefined && optimistic.frontier.size === jv.lastSeq) pass = optimistic;
      else if (db !== null) db = await startComparer();
    } else {
      jv = await chain;
    }
    if (jv.ok) {
      limit = jv.lastSeq;
    } else {
      limit = jv.firstBadSeq - 1;
      const last = segments[segments.length - 1];
      const tornHint =
        last !== undefined && jv.segment === last.name && /incomplete record|checksum mismatch|length field/.test(jv.reason)
          ? ' — at the end of the last segment this is the signature of a torn write by a crash: records there were never acknowledged, and starting the node cuts them away and journals a journal.repaired note'
          : '';
      problems.add('journal', jv.firstBadSeq, `journal segment ${jv.segment} offset ${jv.offset}: ${jv.reason}${tornHint}`);
    }
    pass ??= await recordsPass(journalDir, limit, !jv.ok, fileSizes, db);
    for (const p of pass.problems) problems.add(p.area, p.seq, p.message);
    warnings.push(...pass.warnings);
    report.repairs.push(...pass.repairs);
    if (pass.failure !== undefined) {
      // The files changed under us, or verifyJournal and the reader disagree: both are failures.
      problems.add('journal', Math.min(limit, pass.frontier.size) + 1, `reading the journal failed after seq ${pass.frontier.size}: ${pass.failure}`);
    }
    if (db !== null) {
      try {
        const r = await db.finish(limit);
        for (const p of r.problems) problems.add('database', p.seq, p.message);
        notes.push(...r.notes);
        report.database = r.summary;
      } catch (e) {
        dbUnreadable(e);
      }
    }
  } finally {
    if (closeDb !== null) await closeDb().catch(() => {});
  }
  const { frontier, store, rootsAt, journaled, journalKeys, lastHash } = pass;
  report.journal.records = frontier.size;
  report.journal.lastSeq = jv.ok ? jv.lastSeq : limit;
  report.journal.lastHash = lastHash?.toString('hex') ?? null;
  report.journal.root = frontier.root().toString('hex');

  // 5. Keys announced in the journal count only when nothing was pinned.
  if (opts.publicKeys === undefined || opts.publicKeys.length === 0) {
    for (const [id, info] of journalKeys) if (!trusted.has(id)) trusted.set(id, { info, source: 'journal (audit.key note)' });
  }
  report.keys = [...trusted.entries()].map(([keyId, t]) => ({ keyId, source: t.source }));
  if (trusted.size === 0 && byIdentity.size + journaled.length > 0) problems.add('keys', null, 'no public key to check checkpoint signatures with (pass --public-key)');

  // 6. Checkpoints: signature, and root against the recomputed tree.
  for (const { seq, cp } of journaled) {
    const id = identity(cp);
    const entry = byIdentity.get(id) ?? { cp, sources: [] };
    entry.sources.push(`journal:${seq}`);
    byIdentity.set(id, entry);
  }
  const reader = new TreeReader(store, new JournalLeafSource(journalDir, !jv.ok), frontier.size);
  const results: CheckpointResult[] = [];
  for (const { cp, sources } of byIdentity.values()) {
    const key = trusted.get(cp.keyId);
    const signature = key === undefined ? 'unknown-key' : checkpointSignatureValid(cp, key.info.publicKey) ? 'valid' : 'invalid';
    let root: CheckpointResult['root'];
    if (cp.treeSize > frontier.size) {
      root = 'beyond-journal';
    } else {
      let computed = rootsAt.get(cp.treeSize);
      if (computed === undefined) computed = rootAt(reader, cp.treeSize).toString('hex');
      root = computed === cp.rootHash ? 'match' : 'mismatch';
    }
    results.push({ treeSize: cp.treeSize, rootHash: cp.rootHash, timestamp: cp.timestamp, keyId: cp.keyId, sources, signature, root });
    const where = sources.join(', ');
    if (signature === 'invalid') problems.add('checkpoint', null, `checkpoint of ${cp.treeSize} records (${where}): the Ed25519 signature does not verify with key ${cp.keyId}`);
    if (signature === 'unknown-key') problems.add('keys', null, `checkpoint of ${cp.treeSize} records (${where}) is signed by key ${cp.keyId}, which is not trusted`);
    if (!sources.some((s) => s.startsWith('journal:')) && root !== 'beyond-journal') {
      warnings.push(`checkpoint of ${cp.treeSize} records (${where}) is not journaled (a crash between writing it and journaling it leaves this for the last one)`);
    }
    if (!sources.some((s) => s.startsWith('jsonl:'))) warnings.push(`checkpoint of ${cp.treeSize} records (${where}) is missing from ${CHECKPOINTS_FILE}`);
  }
  results.sort((a, b) => a.treeSize - b.treeSize || (BigInt(a.timestamp) < BigInt(b.timestamp) ? -1 : 1));
  // A mismatch means some record at or before its size changed; the last good checkpoint before
  // it still vouches for everything up to its own size.
  const goodSizes = results.filter((r) => r.root === 'match' && r.signature === 'valid').map((r) => r.treeSize);
  for (const r of results) {
    // Only a checkpoint we can attribute (valid signature by a trusted key) is evidence about records.
    if (r.signature !== 'valid') continue;
    if (r.root === 'mismatch') {
      const lastGood = goodSizes.filter((s) => s < r.treeSize).reduce((a, b) => Math.max(a, b), 0);
      problems.add(
        'checkpoint',
        lastGood + 1,
        `checkpoint of ${r.treeSize} records (${r.sources.join(', ')}) signed root ${r.rootHash}, but the journal's first ${r.treeSize} records have a different root: some record in ${lastGood + 1}..${r.treeSize} was altered`,
      );
    } else if (r.root === 'beyond-journal') {
      if (opts.fromArchive === true) {
        report.checkpoints.uncheckable++;
      } else if (jv.ok) {
        problems.add('checkpoint', frontier.size + 1, `checkpoint of ${r.treeSize} records (${r.sources.join(', ')}) was signed, but the journal ends at seq ${frontier.size}: records ${frontier.size + 1}..${r.treeSize} are missing`);
      }
    }
  }
  if (report.checkpoints.uncheckable > 0) {
    notes.push(`${report.checkpoints.uncheckable} checkpoint(s) cover records past the last archived segment (the active segment is archived once sealed)`);
  }
  report.checkpoints.list = results;
  report.checkpoints.total = results.length;
  report.checkpoints.verified = results.filter((r) => r.root === 'match' && r.signature === 'valid').length;
  report.checkpoints.latest = [...results].reverse().find((r) => r.root === 'match' && r.signature === 'valid') ?? null;
  const covered = report.checkpoints.latest?.treeSize ?? 0;
  if (frontier.size > covered) notes.push(`records ${covered + 1}..${frontier.size} are after the last verified checkpoint: the hash chain vouches for them, no signature does yet`);

  // 7. The node's stored subtrees (a cache for proofs): a difference is worth knowing, not a failure.
  const treeDir = path.join(adir, TREE_DIR);
  if (fs.existsSync(treeDir)) {
    for (let level = STORED_MIN_LEVEL; level <= 53; level++) {
      const file = readLevelFile(treeDir, level);
      const n = Math.min(Math.floor(file.length / 32), store.count(level));
      let differs = -1;
      for (let i = 0; i < n; i++) {
        if (!file.subarray(i * 32, i * 32 + 32).equals(store.get(level, i))) {
          differs = i;
          break;
        }
      }
      if (differs >= 0) {
        warnings.push(`the stored subtree cache (${TREE_DIR}/) differs from the journal at level ${level} index ${differs} (leaves from ${differs * 2 ** level + 1}); proofs built from it will fail — delete it while the node is stopped to rebuild`);
        break;
      }
    }
  }
  return finish();
}

/** Human-readable lines for the CLI. */
export function formatReport(r: AuditReport): string {
  const out: string[] = [];
  out.push(`journal      ${r.journal.dir}: ${r.journal.segments} segment(s), ${r.journal.records} record(s) verified${r.journal.lastHash ? `, last hash ${r.journal.lastHash}` : ''}`);
  out.push(`merkle root  ${r.journal.root} over ${r.journal.records} record(s)`);
  const latest = r.checkpoints.latest;
  out.push(`checkpoints  ${r.checkpoints.verified} of ${r.checkpoints.total} verified${latest ? `; latest covers ${latest.treeSize} record(s), signed by ${latest.keyId}` : ''}`);
  for (const k of r.keys) out.push(`key          ${k.keyId} (${k.source})`);
  if (r.database) out.push(`database     ${r.database.target}: ${r.database.compared} of ${r.database.rows} row(s) compared (seq ${r.database.minSeq ?? '-'}..${r.database.maxSeq ?? '-'})`);
  for (const rep of r.repairs) out.push(`repair       seq ${rep.seq}: ${JSON.stringify(rep.detail)}`);
  for (const n of r.notes) out.push(`note         ${n}`);
  for (const w of r.warnings) out.push(`warning      ${w}`);
  for (const p of r.problems) out.push(`PROBLEM      [${p.area}]${p.seq !== null ? ` seq ${p.seq}` : ''}: ${p.message}`);
  if (r.moreProblems > 0) out.push(`PROBLEM      ... and ${r.moreProblems} more`);
  out.push(r.ok ? `OK: the audit trail is intact (${r.elapsedMs} ms)` : `FAILED${r.firstBadSeq !== null ? `: first bad seq ${r.firstBadSeq}` : ''}`);
  if (!r.ok && r.firstBadSeq !== null) out.push(`firstBadSeq ${r.firstBadSeq}`);
  return out.join('\n') + '\n';
}
