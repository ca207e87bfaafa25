/**
 * The Merkle tree the live trail maintains, and the two ways of running it: on the caller's
 * thread (InlineTree) or on a worker thread (WorkerTree, what the node uses: hashing two small
 * SHA-256 per record is about 1.3 µs, which at 200,000 records/s is a quarter of a core the
 * sequencer would otherwise lose). Both sit behind TreeMaintainer: append record hashes of
 * durable records in seq order, ask for the root, close.
 */
import type { Worker } from 'node:worker_threads';
import { Journal } from '../engine/journal.js';
import { MerkleFrontier, MERKLE_HASH_BYTES, recordLeafHash, rootAt } from './merkle.js';
import { FileLevelStore, JournalLeafSource, MemoryLevelStore, STORED_MIN_LEVEL, TreeReader } from './tree-store.js';

export interface AuditNote {
  event: string;
  detail: Record<string, unknown>;
}

export interface CheckpointRef {
  treeSize: number;
  rootHash: string;
}

export interface TreeOpenOptions {
  treeDir: string;
  journalDir: string;
  /** Every record up to here is durable and in the journal (the trail opens right after Journal.open). */
  lastSeq: number;
  /** The last signed checkpoint (signature already checked): the tree must reproduce its root. */
  last?: CheckpointRef;
}

export interface TreeRoot {
  size: number;
  root: Buffer;
}

export class TreeCore {
  private constructor(
    private store: FileLevelStore,
    private frontier: MerkleFrontier,
  ) {}

  /**
   * Restores the tree for records 1..lastSeq from the stored subtrees plus the journal, and checks
   * it: stored nodes must be the hashes of their children, and the root at the last checkpoint's
   * size must be the signed one. A failing cache is rebuilt from the journal once; if the journal
   * itself no longer matches the signed checkpoint, that is reported ('audit.checkpointMismatch').
   */
  static open(o: TreeOpenOptions): { core: TreeCore; notes: AuditNote[] } {
    const notes: AuditNote[] = [];
    let r = TreeCore.restore(o, notes);
    const damaged = MemoryLevelStore.load(o.treeDir).firstInconsistency();
    const problem =
      damaged !== undefined ? `stored subtree ${damaged.level}/${damaged.index} is not the hash of its children` : o.last !== undefined ? TreeCore.mismatch(o, r.store, o.last) : undefined;
    if (problem !== undefined) {
      r.store.close();
      FileLevelStore.wipe(o.treeDir);
      r = TreeCore.restore(o, notes);
      const again = o.last !== undefined ? TreeCore.mismatch(o, r.store, o.last) : undefined;
      if (again !== undefined) notes.push({ event: 'audit.checkpointMismatch', detail: { treeSize: o.last!.treeSize, signedRoot: o.last!.rootHash, problem: again } });
      else notes.push({ event: 'audit.treeRebuilt', detail: { reason: problem, treeSize: r.frontier.size } });
    }
    return { core: new TreeCore(r.store, r.frontier), notes };
  }

  private static restore(o: TreeOpenOptions, notes: AuditNote[]): { store: FileLevelStore; frontier: MerkleFrontier } {
    let store = FileLevelStore.open(o.treeDir);
    let base = store.count(STORED_MIN_LEVEL) * 2 ** STORED_MIN_LEVEL;
    if (base > o.lastSeq) {
      notes.push({ event: 'audit.treeRebuilt', detail: { reason: `stored tree covers ${base} records but the journal holds ${o.lastSeq}` } });
      store.close();
      FileLevelStore.wipe(o.treeDir);
      store = FileLevelStore.open(o.treeDir);
      base = 0;
    }
    const s = store;
    const reader = new TreeReader(store, new JournalLeafSource(o.journalDir), base);
    const frontier = MerkleFrontier.fromSource(base, reader, (level, index, hash) => TreeCore.sink(s, level, index, hash), STORED_MIN_LEVEL);
    if (base < o.lastSeq) {
      for (const e of Journal.frames(o.journalDir, { fromSeq: base + 1, toSeq: o.lastSeq, verify: false })) frontier.push(recordLeafHash(e.hash));
    }
    store.flushSync();
    return { store, frontier };
  }

  private static sink(store: FileLevelStore, level: number, index: number, hash: Buffer): void {
    const have = store.count(level);
    if (index === have) store.append(level, hash);
    else if (index > have) throw new Error(`audit tree store is missing subtrees at level ${level} (has ${have}, completing ${index})`);
  }

  private static mismatch(o: TreeOpenOptions, store: FileLevelStore, last: CheckpointRef): string | undefined {
    if (last.treeSize > o.lastSeq) return `checkpoint covers ${last.treeSize} records but the journal holds ${o.lastSeq}`;
    const root = rootAt(new TreeReader(store, new JournalLeafSource(o.journalDir), o.lastSeq), last.treeSize);
    if (root.toString('hex') !== last.rootHash) return `root of the first ${last.treeSize} records is ${root.toString('hex')}, the checkpoint signed ${last.rootHash}`;
    return undefined;
  }

  get size(): number {
    return this.frontier.size;
  }

  /** Record hashes of seqs from, from + 1, ... (32 bytes each, concatenated). */
  append(from: number, hashes: Uint8Array): void {
    if (from !== this.frontier.size + 1) throw new Error(`audit tree expected seq ${this.frontier.size + 1} next, got ${from}`);
    if (hashes.length % MERKLE_HASH_BYTES !== 0) throw new Error('record hashes must be 32 bytes each');
    for (let off = 0; off < hashes.length; off += MERKLE_HASH_BYTES) this.frontier.push(recordLeafHash(hashes.subarray(off, off + MERKLE_HASH_BYTES)));
  }

  /** Root of everything appended, with the stored subtrees flushed so that they cover it. */
  async root(): Promise<TreeRoot> {
    const size = this.frontier.size;
    const root = this.frontier.root();
    await this.store.flush();
    return { size, root };
  }

  close(): void {
    this.store.close();
  }
}

// ---------------------------------------------------------------------------------------------

export interface TreeMaintainer {
  readonly notes: AuditNote[];
  /** Size once everything appended so far is absorbed. */
  readonly size: number;
  append(from: number, hashes: Uint8Array): void;
  root(): Promise<TreeRoot>;
  close(): Promise<void>;
  /** A failure of the maintainer (worker crash, I/O error): the trail stops checkpointing. */
  onError(listener: (e: Error) => void): void;
}

export class InlineTree implements TreeMaintainer {
  private listeners: ((e: Error) => void)[] = [];
  private closed = false;
  private constructor(
    private readonly core: TreeCore,
    readonly notes: AuditNote[],
  ) {}

  static open(o: TreeOpenOptions): InlineTree {
    const { core, notes } = TreeCore.open(o);
    return new InlineTree(core, notes);
  }

  get size(): number {
    return this.core.size;
  }

  append(from: number, hashes: Uint8Array): void {
    if (this.closed) return;
    try {
      this.core.append(from, hashes);
    } catch (e) {
      for (const l of this.listeners) l(e as Error);
    }
  }

  root(): Promise<TreeRoot> {
    return this.core.root();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.core.close();
  }

  onError(listener: (e: Error) => void): void {
    this.listeners.push(listener);
  }
}

/** Node thread → tree worker. */
export type ToTreeWorker =
  | { op: 'init'; options: TreeOpenOptions }
  | { op: 'append'; from: number; hashes: Uint8Array }
  | { op: 'root'; id: number }
  | { op: 'close'; id: number };

/** Tree worker → node thread. */
export type FromTreeWorker =
  | { op: 'ready'; notes: AuditNote[]; size: number }
  | { op: 'root'; id: number; size: number; root: Uint8Array }
  | { op: 'closed'; id: number }
  | { op: 'error'; message: string; id?: number };

export class WorkerTree implements TreeMaintainer {
  private sizeValue: number;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (m: FromTreeWorker) => void; reject: (e: Error) => void }>();
  private listeners: ((e: Error) => void)[] = [];
  private failure: Error | null = null;
  private closing = false;

  private constructor(
    private readonly worker: Worker,
    readonly notes: AuditNote[],
    size: number,
  ) {
    this.sizeValue = size;
    worker.on('message', (m: FromTreeWorker) => {
      if (m.op === 'error' && m.id === undefined) {
        this.fail(new Error(`audit tree worker: ${m.message}`));
        return;
      }
      if (!('id' in m) || m.id === undefined) return;
      const w = this.waiting.get(m.id);
      if (w === undefined) return;
      this.waiting.delete(m.id);
      this.refCount();
      if (m.op === 'error') w.reject(new Error(`audit tree worker: ${m.message}`));
      else w.resolve(m);
    });
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => {
      if (!this.closing) this.fail(new Error(`audit tree worker exited with code ${code}`));
    });
  }

  static async open(o: TreeOpenOptions): Promise<WorkerTree> {
    const { spawnWorker } = await import('../storage/worker-spawn.js');
    const worker = spawnWorker(new URL('./tree-worker.js', import.meta.url), import.meta.url, { name: 'bulwark-audit-tree' });
    const ready = await new Promise<Extract<FromTreeWorker, { op: 'ready' }>>((resolve, reject) => {
      const onMessage = (m: FromTreeWorker): void => {
        if (m.op === 'ready') {
          cleanup();
          resolve(m);
        } else if (m.op === 'error') {
          cleanup();
          reject(new Error(`audit tree worker: ${m.message}`));
        }
      };
      const onError = (e: Error): void => {
        cleanup();
        reject(e);
      };
      const cleanup = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.postMessage({ op: 'init', options: o } satisfies ToTreeWorker);
    }).catch(async (e: unknown) => {
      await worker.terminate();
      throw e;
    });
    const t = new WorkerTree(worker, ready.notes, ready.size);
    worker.unref();
    return t;
  }

  get size(): number {
    return this.sizeValue;
  }

  append(from: number, hashes: Uint8Array): void {
    if (this.failure !== null || this.closing) return;
    this.sizeValue = from - 1 + hashes.length / MERKLE_HASH_BYTES;
    this.worker.postMessage({ op: 'append', from, hashes } satisfies ToTreeWorker, [hashes.buffer as ArrayBuffer]);
  }

  private request(make: (id: number) => ToTreeWorker): Promise<FromTreeWorker> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.refCount();
      this.worker.postMessage(make(id));
    });
  }

  /** Keeps the process alive only while an answer is awaited. */
  private refCount(): void {
    if (this.waiting.size > 0) this.worker.ref();
    else this.worker.unref();
  }

  async root(): Promise<TreeRoot> {
    const m = (await this.request((id) => ({ op: 'root', id }))) as Extract<FromTreeWorker, { op: 'root' }>;
    return { size: m.size, root: Buffer.from(m.root.buffer, m.root.byteOffset, m.root.byteLength) };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.failure === null) {
      try {
        await this.request((id) => ({ op: 'close', id }));
      } catch {
        // the failure was reported already
      }
    }
    await this.worker.terminate();
  }

  onError(listener: (e: Error) => void): void {
    this.listeners.push(listener);
  }

  private fail(e: Error): void {
    if (this.failure !== null) return;
    this.failure = e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
    for (const l of this.listeners) l(e);
  }
}
