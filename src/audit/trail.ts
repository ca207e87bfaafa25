/**
 * The live audit trail: keeps the Merkle tree of the journal up to date as records become
 * durable, signs a checkpoint every N records or T seconds, writes it to
 * <dataDir>/audit/checkpoints.jsonl, journals it (`system.note` 'audit.checkpoint'), and hands
 * sealed segments and checkpoints to the WORM archive.
 *
 * It is a consumer beside the journal, never in the way of the hot path: appends only queue the
 * record hash (the journal computed it already); the tree absorbs queued hashes once the journal
 * reports them durable, on a later turn of the event loop, so a checkpoint never covers a record
 * that a crash could still take back.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Clock } from '../core/time.js';
import type { Journal } from '../engine/journal.js';
import type { Input } from '../engine/messages.js';
import type { Sequencer } from '../engine/sequencer.js';
import { AuditArchiver, type ArchiveRun } from './archive.js';
import {
  appendCheckpoint,
  CHECKPOINT_NOTE_EVENT,
  checkpointSignatureValid,
  readCheckpointFile,
  repairCheckpointFile,
  signCheckpoint,
  type Checkpoint,
} from './checkpoint.js';
import { AUDIT_DEFAULTS, type AuditConfig } from './config.js';
import { auditDir, loadSigningKey, localPublicKeys, publishPublicKey, type SigningKey } from './keys.js';
import { inclusionProof, MERKLE_HASH_BYTES } from './merkle.js';
import { CHECKPOINTS_FILE, TREE_DIR } from './paths.js';
import { InlineTree, WorkerTree, type AuditNote, type TreeMaintainer } from './tree-core.js';
import { FileLevelReader, JournalLeafSource, TreeReader } from './tree-store.js';

export { CHECKPOINTS_FILE, TREE_DIR };

/** What the trail needs from its surroundings: the node gives it the sequencer; tests and benches a stub. */
export interface AuditHost {
  journal: Journal;
  /** Calls `listener(seq)` right after each record is appended (journal.lastHash is its hash then). */
  onAppend(listener: (seq: number) => void): void;
  /** Journals a system.note input; returns the seqs it took, or null when refused. */
  note(event: string, detail: Record<string, unknown>): { seq: number; lastSeq: number } | null;
  now(): bigint;
  log(msg: string, data?: Record<string, unknown>): void;
}

export interface AuditTrailOptions {
  dataDir: string;
  /** Names the log in every checkpoint: the node id. */
  origin: string;
  environment: string;
  config?: AuditConfig;
  env?: NodeJS.ProcessEnv;
  /** Set to upload to the WORM archive; created from config.archive by attach(). */
  archiver?: AuditArchiver;
  /** Where the tree is hashed: a worker thread (default, the node) or the caller's thread. */
  tree?: 'worker' | 'inline';
}

export interface AuditStatus {
  /** down: the tree stopped (no new checkpoints); degraded: the WORM archive is unreachable */
  status: 'up' | 'degraded' | 'down';
  error?: string;
  treeSize: number;
  pendingRecords: number;
  checkpoints: number;
  lastCheckpoint: Checkpoint | null;
  keyId: string;
  archive: { enabled: boolean; up: boolean | null; lastRun: ArchiveRun | null; lastError: string | null };
}

export class AuditTrail {
  readonly dir: string;
  readonly key: SigningKey;
  private readonly cfg: AuditConfig;
  private readonly checkpointsFile: string;
  private readonly tree: TreeMaintainer;

  /**
   * Hashes of appended records not yet handed to the tree, 32 bytes each in one buffer (no object
   * per record for the garbage collector): [pendHead, pendTail) holds seqs tree.size + 1, ...
   */
  private pend = new Uint8Array(65_536 * MERKLE_HASH_BYTES);
  private pendHead = 0;
  private pendTail = 0;
  private nextAppendSeq: number;
  private durableTarget = 0;
  private drainScheduled = false;

  private lastCheckpointValue: Checkpoint | null;
  private checkpointCount: number;
  private checkpointChain: Promise<unknown> = Promise.resolve();
  /** Checkpoints requested and not finished (drain does not pile more onto them). */
  private queued = 0;
  /** The seqs our own last checkpoint note took: a tree that grew only by them is idle. */
  private ownNote: { seq: number; lastSeq: number } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private archiveTimer: NodeJS.Timeout | null = null;
  private readonly startupNotes: AuditNote[] = [];
  private closed = false;
  /** Set once the final checkpoint is written: later records are vouched for by the chain only. */
  private treeClosed = false;
  private failure: Error | null = null;

  private archiveRun: Promise<unknown> | null = null;
  private archiveAgain = false;
  private archiveUp: boolean | null = null;
  private lastArchiveRun: ArchiveRun | null = null;
  private lastArchiveError: string | null = null;

  private constructor(
    private readonly host: AuditHost,
    private readonly opts: AuditTrailOptions,
    key: SigningKey,
    tree: TreeMaintainer,
    checkpoints: Checkpoint[],
  ) {
    this.dir = auditDir(opts.dataDir);
    this.cfg = opts.config ?? AUDIT_DEFAULTS;
    this.checkpointsFile = path.join(this.dir, CHECKPOINTS_FILE);
    this.key = key;
    this.tree = tree;
    tree.onError((e) => this.fail(e));
    this.nextAppendSeq = host.journal.lastSeq + 1;
    this.durableTarget = host.journal.durableSeq;
    this.lastCheckpointValue = checkpoints[checkpoints.length - 1] ?? null;
    this.checkpointCount = checkpoints.length;
  }

  /**
   * Opens the trail over an open journal whose records are all durable (as right after
   * Journal.open): loads the key and the stored tree, catches the tree up with the journal, and
   * checks it against the last signed checkpoint. Journals nothing until start().
   */
  static async open(host: AuditHost, opts: AuditTrailOptions): Promise<AuditTrail> {
    const journal = host.journal;
    if (journal.durableSeq !== journal.lastSeq) throw new Error('AuditTrail.open needs a journal with nothing pending (open it first)');
    const dir = auditDir(opts.dataDir);
    fs.mkdirSync(dir, { recursive: true });
    const key = loadSigningKey({ dataDir: opts.dataDir, environment: opts.environment, keyFile: opts.config?.keyFile, env: opts.env ?? process.env, create: true });
    publishPublicKey(opts.dataDir, key);
    const notes: AuditNote[] = [];

    const cpFile = path.join(dir, CHECKPOINTS_FILE);
    const torn = repairCheckpointFile(cpFile);
    if (torn > 0) notes.push({ event: 'audit.checkpoints.repaired', detail: { file: cpFile, droppedBytes: torn, reason: 'partial last line (crash while appending)' } });
    const parsed = readCheckpointFile(cpFile);
    for (const bad of parsed.invalid) notes.push({ event: 'audit.checkpoints.invalid', detail: { file: cpFile, line: bad.line, reason: bad.reason } });
    const checkpoints = parsed.checkpoints.map((c) => c.checkpoint);

    // The last checkpoint must hold for the journal; its signature first (a key we still have).
    const last = checkpoints[checkpoints.length - 1];
    let lastRef: { treeSize: number; rootHash: string } | undefined;
    if (last !== undefined) {
      const verifier = last.keyId === key.keyId ? key.publicKey : localPublicKeys(opts.dataDir).get(last.keyId)?.publicKey;
      if (verifier !== undefined && !checkpointSignatureValid(last, verifier)) {
        notes.push({ event: 'audit.checkpointInvalid', detail: { treeSize: last.treeSize, keyId: last.keyId, reason: 'the signature does not verify' } });
        host.log('AUDIT: the last checkpoint on file does not carry a valid signature', { treeSize: last.treeSize });
      } else {
        lastRef = { treeSize: last.treeSize, rootHash: last.rootHash };
      }
    }
    const treeOptions = { treeDir: path.join(dir, TREE_DIR), journalDir: journal.dir, lastSeq: journal.lastSeq, ...(lastRef !== undefined ? { last: lastRef } : {}) };
    const tree: TreeMaintainer = opts.tree === 'inline' ? InlineTree.open(treeOptions) : await WorkerTree.open(treeOptions);
    notes.push(...tree.notes);
    for (const n of tree.notes) if (n.event === 'audit.checkpointMismatch') host.log('AUDIT: the journal does not match the last signed checkpoint', n.detail);
    const trail = new AuditTrail(host, opts, key, tree, checkpoints);
    trail.startupNotes.push(...notes);
    host.onAppend((seq) => trail.onAppend(seq));
    journal.onDurable((seq) => trail.onDurable(seq));
    return trail;
  }

  /** Wires a trail into the node's sequencer. */
  static attach(parts: {
    dataDir: string;
    nodeId: string;
    environment: string;
    config?: AuditConfig;
    journal: Journal;
    sequencer: Sequencer;
    clock: Clock;
    log: (msg: string, data?: Record<string, unknown>) => void;
    archiver?: AuditArchiver;
  }): Promise<AuditTrail> {
    const { sequencer } = parts;
    const host: AuditHost = {
      journal: parts.journal,
      onAppend(listener) {
        sequencer.onInput((seq) => listener(seq));
        sequencer.onEvent((e) => listener(e.seq));
      },
      note(event, detail) {
        try {
          const s = sequencer.submit({ type: 'system.note', event, detail } satisfies Input);
          return { seq: s.seq, lastSeq: s.lastSeq };
        } catch (e) {
          parts.log('audit note refused', { event, error: (e as Error).message });
          return null;
        }
      },
      now: () => parts.clock.now(),
      log: parts.log,
    };
    const archiver = parts.archiver ?? (parts.config?.archive !== undefined ? new AuditArchiver(parts.config.archive, parts.dataDir) : undefined);
    return AuditTrail.open(host, {
      dataDir: parts.dataDir,
      origin: parts.nodeId,
      environment: parts.environment,
      ...(parts.config !== undefined ? { config: parts.config } : {}),
      ...(archiver !== undefined ? { archiver } : {}),
    });
  }

  /** Journals what open() found (key in use, repairs) and starts the checkpoint and archive timers. */
  start(): void {
    this.host.note('audit.key', { keyId: this.key.keyId, algorithm: 'Ed25519', publicKey: this.key.publicPem, source: this.key.source });
    for (const n of this.startupNotes.splice(0)) this.host.note(n.event, n.detail);
    const everyMs = this.cfg.checkpoint.everySeconds * 1000;
    this.timer = setInterval(() => {
      if (this.hasNewRecords()) void this.checkpoint().catch(() => {});
    }, everyMs);
    this.timer.unref();
    const archiver = this.opts.archiver;
    if (archiver !== undefined) {
      this.archiveTimer = setInterval(() => this.archiveSoon(), archiver.intervalMs);
      this.archiveTimer.unref();
      this.archiveSoon();
    }
  }

  get lastCheckpoint(): Checkpoint | null {
    return this.lastCheckpointValue;
  }

  /** Records handed to the tree (absorbed once the worker gets to them). */
  get treeSize(): number {
    return this.tree.size;
  }

  get status(): AuditStatus {
    return {
      status: this.failure !== null ? 'down' : this.archiveUp === false ? 'degraded' : 'up',
      ...(this.failure !== null ? { error: this.failure.message } : {}),
      treeSize: this.tree.size,
      pendingRecords: (this.pendTail - this.pendHead) / MERKLE_HASH_BYTES,
      checkpoints: this.checkpointCount,
      lastCheckpoint: this.lastCheckpointValue,
      keyId: this.key.keyId,
      archive: { enabled: this.opts.archiver !== undefined, up: this.archiveUp, lastRun: this.lastArchiveRun, lastError: this.lastArchiveError },
    };
  }

  // --- tree maintenance -----------------------------------------------------------------------

  private onAppend(seq: number): void {
    if (this.failure !== null) return;
    if (seq !== this.nextAppendSeq) {
      this.fail(new Error(`audit trail expected seq ${this.nextAppendSeq} to be appended next, saw ${seq}`));
      return;
    }
    this.nextAppendSeq++;
    if (this.pendTail + MERKLE_HASH_BYTES > this.pend.length) this.makeRoom();
    this.host.journal.copyLastHash(this.pend, this.pendTail);
    this.pendTail += MERKLE_HASH_BYTES;
  }

  private onDurable(seq: number): void {
    this.durableTarget = seq;
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(() => {
        this.drainScheduled = false;
        this.drain();
      });
    }
  }

  /** Compacts the pending buffer, or doubles it when it is more than half full. */
  private makeRoom(): void {
    const live = this.pendTail - this.pendHead;
    if (live + MERKLE_HASH_BYTES <= this.pend.length / 2) {
      this.pend.copyWithin(0, this.pendHead, this.pendTail);
    } else {
      const bigger = new Uint8Array(this.pend.length * 2);
      bigger.set(this.pend.subarray(this.pendHead, this.pendTail));
      this.pend = bigger;
    }
    this.pendHead = 0;
    this.pendTail = live;
  }

  /** Hands durable records to the tree; checkpoints when N records have gathered. */
  private drain(): void {
    if (this.failure !== null || this.treeClosed) return;
    const from = this.tree.size + 1;
    const upTo = Math.min(this.durableTarget, this.nextAppendSeq - 1);
    if (upTo >= from) {
      const bytes = (upTo - from + 1) * MERKLE_HASH_BYTES;
      // a copy with its own ArrayBuffer: it is transferred to the worker
      const packed = this.pend.slice(this.pendHead, this.pendHead + bytes);
      this.pendHead += bytes;
      if (this.pendHead === this.pendTail) this.pendHead = this.pendTail = 0;
      this.tree.append(from, packed);
    }
    const since = this.tree.size - (this.lastCheckpointValue?.treeSize ?? 0);
    if (since >= this.cfg.checkpoint.everyRecords && this.queued === 0 && !this.closed) void this.checkpoint().catch(() => {});
  }

  private hasNewRecords(): boolean {
    const size = this.tree.size;
    const last = this.lastCheckpointValue?.treeSize ?? 0;
    if (size <= last) return false;
    // Only our own checkpoint note since the last checkpoint: nothing new to vouch for.
    if (this.ownNote !== null && last === this.ownNote.seq - 1 && size <= this.ownNote.lastSeq) return false;
    return true;
  }

  private fail(e: Error): void {
    this.failure = e;
    this.host.log('AUDIT: the audit trail stopped maintaining the tree; checkpoints are suspended until restart', { error: e.message });
    // not from inside a sequencer listener (where this can be called): journal it on the next turn
    setImmediate(() => this.host.note('audit.failed', { error: e.message }));
  }

  // --- checkpoints ------------------------------------------------------------------------------

  /**
   * Signs, stores and journals a checkpoint of every durable record absorbed so far. Serialized;
   * resolves with the checkpoint (null when there was nothing new).
   */
  checkpoint(): Promise<Checkpoint | null> {
    this.queued++;
    const run = this.checkpointChain.then(() => this.writeCheckpoint()).finally(() => this.queued--);
    this.checkpointChain = run.catch(() => {});
    return run;
  }

  private async writeCheckpoint(): Promise<Checkpoint | null> {
    if (this.failure !== null) return null;
    this.drain();
    let size = 0;
    try {
      const t = await this.tree.root();
      size = t.size;
      if (size === 0 || size === this.lastCheckpointValue?.treeSize) return null;
      const cp = signCheckpoint({ origin: this.opts.origin, treeSize: size, rootHash: t.root, timestamp: this.host.now() }, this.key);
      // The tree flushed its stored subtrees before answering: a checkpoint on disk is covered by them.
      await appendCheckpoint(this.checkpointsFile, cp);
      this.lastCheckpointValue = cp;
      this.checkpointCount++;
      this.ownNote = this.host.note(CHECKPOINT_NOTE_EVENT, { ...cp });
      this.archiveSoon();
      return cp;
    } catch (e) {
      this.host.log('AUDIT: writing a checkpoint failed', { error: (e as Error).message });
      this.host.note('audit.checkpointFailed', { treeSize: size, error: (e as Error).message });
      throw e;
    }
  }

  /** Resolves once every checkpoint requested so far is written (or failed). */
  async whenIdle(): Promise<void> {
    while (this.queued > 0) await this.checkpointChain;
  }

  /** Inclusion proof of `seq` against the latest checkpoint (or the one of `treeSize`). */
  inclusionProof(seq: number, checkpoint: Checkpoint | null = this.lastCheckpointValue): { checkpoint: Checkpoint; leafIndex: number; auditPath: Buffer[] } {
    if (checkpoint === null) throw new RangeError('no checkpoint has been signed yet');
    if (!Number.isSafeInteger(seq) || seq < 1 || seq > checkpoint.treeSize) throw new RangeError(`seq ${seq} is not covered by the checkpoint of ${checkpoint.treeSize} records`);
    const stored = new FileLevelReader(path.join(this.dir, TREE_DIR));
    try {
      const reader = new TreeReader(stored, new JournalLeafSource(this.host.journal.dir), checkpoint.treeSize);
      return { checkpoint, leafIndex: seq - 1, auditPath: inclusionProof(reader, seq - 1, checkpoint.treeSize) };
    } finally {
      stored.close();
    }
  }

  // --- archive ----------------------------------------------------------------------------------

  /** Starts an upload run, or asks the running one to go again when it is done. */
  private archiveSoon(): void {
    const archiver = this.opts.archiver;
    if (archiver === undefined || this.closed) return;
    if (this.archiveRun !== null) {
      this.archiveAgain = true;
      return;
    }
    this.archiveRun = (async () => {
      do {
        this.archiveAgain = false;
        await this.runArchive(archiver);
      } while (this.archiveAgain && !this.closed);
    })().finally(() => {
      this.archiveRun = null;
    });
  }

  private async runArchive(archiver: AuditArchiver): Promise<void> {
    try {
      const run = await archiver.runOnce();
      this.lastArchiveRun = run;
      this.lastArchiveError = null;
      // archivedThroughSeq: the archive's confirmed mark, which the database projects into
      // audit_archive_state (audit_log partitions at or below it may be pruned after two years)
      if (run.uploaded.length > 0) {
        this.host.note('audit.archived', { objects: run.uploaded.map((u) => u.key), bytes: run.uploadedBytes, retainUntil: run.retainUntil, archivedThroughSeq: run.archivedThroughSeq });
      }
      if (this.archiveUp !== true) {
        if (this.archiveUp === false) this.host.note('audit.archive.up', { bucket: archiver.bucket });
        this.archiveUp = true;
      }
    } catch (e) {
      this.lastArchiveError = (e as Error).message;
      this.host.log('AUDIT: WORM archive upload failed; will retry', { error: (e as Error).message });
      if (this.archiveUp !== false) {
        this.host.note('audit.archive.down', { bucket: archiver.bucket, error: (e as Error).message });
        this.archiveUp = false;
      }
    }
  }

  /**
   * Final checkpoint over everything appended so far (the caller has stopped new input), then
   * the stored levels are flushed. The journal stays open: the caller closes it after.
   */
  async close(opts: { archiveTimeoutMs?: number } = {}): Promise<Checkpoint | null> {
    if (this.closed) return this.lastCheckpointValue;
    // From here no timer, drain or upload starts anything new; the final checkpoint is ours.
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.archiveTimer) clearInterval(this.archiveTimer);
    this.timer = null;
    this.archiveTimer = null;
    let cp: Checkpoint | null = null;
    try {
      // Checkpoints already under way journal their notes first; the final one covers those too.
      await this.checkpointChain;
      await this.host.journal.flush();
      this.durableTarget = this.host.journal.durableSeq;
      cp = await this.checkpoint();
      await this.host.journal.flush();
    } catch (e) {
      this.host.log('AUDIT: final checkpoint failed', { error: (e as Error).message });
    }
    const archiver = this.opts.archiver;
    // Let a run in progress finish, then one more that includes the final checkpoint.
    const upload = archiver === undefined ? null : (this.archiveRun ?? Promise.resolve()).then(() => this.runArchive(archiver));
    if (upload !== null) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([
        upload,
        new Promise<void>((resolve) => {
          t = setTimeout(resolve, opts.archiveTimeoutMs ?? 10_000);
        }),
      ]);
      if (t) clearTimeout(t);
    }
    this.opts.archiver?.close();
    this.treeClosed = true;
    await this.tree.close();
    return cp;
  }
}
