/**
 * Stored subtree hashes, so that proofs and past roots cost a few reads instead of a pass over the
 * whole journal. Every perfect subtree of 2^8 = 256 leaves or more is kept, one append-only file
 * per level: `<dataDir>/audit/tree/L08.bin` holds the hashes of leaves [256 i, 256 (i + 1)) at
 * offset 32 i, L09.bin those of 512 leaves, and so on. That is about N / 4 bytes for N records.
 *
 * The files are a cache derived from the journal, not evidence: they are not signed, verify
 * recomputes everything from the journal, and a proof built from a bad cache simply fails to
 * verify against the signed checkpoint. Below level 8, hashes are recomputed from the leaves,
 * which are read from the journal (at most 255 per subtree).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Journal } from '../engine/journal.js';
import { MERKLE_HASH_BYTES, nodeHash, perfectFromLeaves, recordLeafHash, type SubtreeSource } from './merkle.js';

export const STORED_MIN_LEVEL = 8;
export const BLOCK_LEAVES = 2 ** STORED_MIN_LEVEL;
const MAX_LEVEL = 53;

function levelFile(dir: string, level: number): string {
  return path.join(dir, `L${String(level).padStart(2, '0')}.bin`);
}

/** Perfect-subtree hashes at levels >= STORED_MIN_LEVEL, indexed (level, index). */
export interface LevelStore {
  count(level: number): number;
  get(level: number, index: number): Buffer;
  append(level: number, hash: Buffer): void;
}

/** Grows by doubling; used by verify, which builds the levels while it reads the journal. */
export class MemoryLevelStore implements LevelStore {
  private readonly levels: { buf: Buffer; n: number }[] = [];

  count(level: number): number {
    return this.levels[level]?.n ?? 0;
  }

  get(level: number, index: number): Buffer {
    const l = this.levels[level];
    if (l === undefined || index >= l.n) throw new RangeError(`no stored subtree ${level}/${index}`);
    return l.buf.subarray(index * MERKLE_HASH_BYTES, (index + 1) * MERKLE_HASH_BYTES);
  }

  append(level: number, hash: Buffer): void {
    let l = this.levels[level];
    if (l === undefined) {
      l = { buf: Buffer.allocUnsafe(64 * MERKLE_HASH_BYTES), n: 0 };
      this.levels[level] = l;
    }
    if ((l.n + 1) * MERKLE_HASH_BYTES > l.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(64 * MERKLE_HASH_BYTES, l.buf.length * 2));
      l.buf.copy(bigger, 0, 0, l.n * MERKLE_HASH_BYTES);
      l.buf = bigger;
    }
    hash.copy(l.buf, l.n * MERKLE_HASH_BYTES);
    l.n++;
  }

  /**
   * Whether every stored node is the hash of its two stored children: a damaged entry below the
   * top would otherwise go unnoticed until a proof through it failed.
   */
  firstInconsistency(): { level: number; index: number } | undefined {
    for (let level = STORED_MIN_LEVEL + 1; level <= MAX_LEVEL; level++) {
      const n = Math.min(this.count(level), Math.floor(this.count(level - 1) / 2));
      for (let i = 0; i < n; i++) {
        if (!nodeHash(this.get(level - 1, 2 * i), this.get(level - 1, 2 * i + 1)).equals(this.get(level, i))) return { level, index: i };
      }
      if (this.count(level) === 0) break;
    }
    return undefined;
  }

  /** The node's level files, read whole and never modified (a read-only view for proofs). */
  static load(dir: string): MemoryLevelStore {
    const s = new MemoryLevelStore();
    for (let level = STORED_MIN_LEVEL; level <= MAX_LEVEL; level++) {
      let buf: Buffer;
      try {
        buf = fs.readFileSync(levelFile(dir, level));
      } catch {
        break;
      }
      const n = Math.floor(buf.length / MERKLE_HASH_BYTES);
      s.levels[level] = { buf, n };
    }
    // Levels must agree (a crash may leave one ahead of another); keep the consistent prefix.
    const base = s.count(STORED_MIN_LEVEL);
    for (let level = STORED_MIN_LEVEL + 1; level <= MAX_LEVEL; level++) {
      const l = s.levels[level];
      if (l !== undefined) l.n = Math.min(l.n, Math.floor(base / 2 ** (level - STORED_MIN_LEVEL)));
    }
    return s;
  }
}

/**
 * The on-disk store. Appends are buffered and written by flush(); reads see buffered entries too.
 * open() makes the levels agree with each other (a crash may leave one level ahead of another):
 * level L must hold exactly floor(count(8) / 2^(L-8)) entries; extra entries are cut, missing ones
 * recomputed from the level below.
 */
export class FileLevelStore implements LevelStore {
  private readonly counts: number[] = [];
  private readonly pending: Buffer[][] = [];
  private readonly fds = new Map<number, number>();

  private constructor(readonly dir: string) {}

  static open(dir: string): FileLevelStore {
    fs.mkdirSync(dir, { recursive: true });
    const s = new FileLevelStore(dir);
    for (let level = STORED_MIN_LEVEL; level <= MAX_LEVEL; level++) {
      const f = levelFile(dir, level);
      let size = 0;
      try {
        size = fs.statSync(f).size;
      } catch {
        size = 0;
      }
      const n = Math.floor(size / MERKLE_HASH_BYTES);
      if (size !== n * MERKLE_HASH_BYTES) fs.truncateSync(f, n * MERKLE_HASH_BYTES);
      s.counts[level] = n;
    }
    const base = s.counts[STORED_MIN_LEVEL]!;
    for (let level = STORED_MIN_LEVEL + 1; level <= MAX_LEVEL; level++) {
      const want = Math.floor(base / 2 ** (level - STORED_MIN_LEVEL));
      const have = s.counts[level]!;
      if (have > want) {
        fs.truncateSync(levelFile(dir, level), want * MERKLE_HASH_BYTES);
        s.counts[level] = want;
      } else if (have < want) {
        for (let i = have; i < want; i++) s.append(level, nodeHash(s.get(level - 1, 2 * i), s.get(level - 1, 2 * i + 1)));
      }
    }
    s.flushSync();
    return s;
  }

  /** Removes every level file (the cache is rebuilt from the journal). */
  static wipe(dir: string): void {
    for (let level = STORED_MIN_LEVEL; level <= MAX_LEVEL; level++) fs.rmSync(levelFile(dir, level), { force: true });
  }

  count(level: number): number {
    return (this.counts[level] ?? 0) + (this.pending[level]?.length ?? 0);
  }

  get(level: number, index: number): Buffer {
    const onDisk = this.counts[level] ?? 0;
    if (index >= onDisk) {
      const p = this.pending[level]?.[index - onDisk];
      if (p === undefined) throw new RangeError(`no stored subtree ${level}/${index}`);
      return p;
    }
    const buf = Buffer.allocUnsafe(MERKLE_HASH_BYTES);
    const n = fs.readSync(this.fd(level), buf, 0, MERKLE_HASH_BYTES, index * MERKLE_HASH_BYTES);
    if (n !== MERKLE_HASH_BYTES) throw new Error(`short read of subtree ${level}/${index} in ${this.dir}`);
    return buf;
  }

  append(level: number, hash: Buffer): void {
    (this.pending[level] ??= []).push(hash);
  }

  get pendingEntries(): number {
    let n = 0;
    for (const p of this.pending) n += p?.length ?? 0;
    return n;
  }

  /** Writes buffered entries, lowest level first (open() repairs any torn state). */
  async flush(): Promise<void> {
    for (let level = STORED_MIN_LEVEL; level < this.pending.length; level++) {
      const p = this.pending[level];
      if (p === undefined || p.length === 0) continue;
      this.pending[level] = [];
      const data = Buffer.concat(p);
      const at = this.counts[level]! * MERKLE_HASH_BYTES;
      this.counts[level]! += p.length;
      await new Promise<void>((resolve, reject) =>
        fs.write(this.fd(level), data, 0, data.length, at, (err) => (err ? reject(err) : resolve())),
      );
    }
  }

  flushSync(): void {
    for (let level = STORED_MIN_LEVEL; level < this.pending.length; level++) {
      const p = this.pending[level];
      if (p === undefined || p.length === 0) continue;
      this.pending[level] = [];
      const data = Buffer.concat(p);
      fs.writeSync(this.fd(level), data, 0, data.length, this.counts[level]! * MERKLE_HASH_BYTES);
      this.counts[level]! += p.length;
    }
  }

  close(): void {
    this.flushSync();
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }

  private fd(level: number): number {
    let fd = this.fds.get(level);
    if (fd === undefined) {
      fd = fs.openSync(levelFile(this.dir, level), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
      this.fds.set(level, fd);
    }
    return fd;
  }
}

/**
 * Read-only view of the level files that another thread may be appending to: counts are taken
 * when it is opened (levels cut to their consistent prefix), entries read on demand.
 */
export class FileLevelReader implements LevelStore {
  private readonly counts: number[] = [];
  private readonly fds = new Map<number, number>();

  constructor(private readonly dir: string) {
    for (let level = STORED_MIN_LEVEL; level <= MAX_LEVEL; level++) {
      let size = 0;
      try {
        size = fs.statSync(levelFile(dir, level)).size;
      } catch {
        size = 0;
      }
      this.counts[level] = Math.floor(size / MERKLE_HASH_BYTES);
    }
    const base = this.counts[STORED_MIN_LEVEL]!;
    for (let level = STORED_MIN_LEVEL + 1; level <= MAX_LEVEL; level++) {
      this.counts[level] = Math.min(this.counts[level]!, Math.floor(base / 2 ** (level - STORED_MIN_LEVEL)));
    }
  }

  count(level: number): number {
    return this.counts[level] ?? 0;
  }

  get(level: number, index: number): Buffer {
    if (index >= this.count(level)) throw new RangeError(`no stored subtree ${level}/${index}`);
    let fd = this.fds.get(level);
    if (fd === undefined) {
      fd = fs.openSync(levelFile(this.dir, level), 'r');
      this.fds.set(level, fd);
    }
    const buf = Buffer.allocUnsafe(MERKLE_HASH_BYTES);
    if (fs.readSync(fd, buf, 0, MERKLE_HASH_BYTES, index * MERKLE_HASH_BYTES) !== MERKLE_HASH_BYTES) throw new Error(`short read of subtree ${level}/${index}`);
    return buf;
  }

  append(): void {
    throw new Error('FileLevelReader is read-only');
  }

  close(): void {
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }
}

/** Leaf hashes of records, by 0-based leaf index (leaf i is seq i + 1). */
export interface LeafSource {
  /** Leaf hashes for [lo, hi). */
  leaves(lo: number, hi: number): Buffer[];
}

/** Reads record hashes from the journal on disk. Callers keep hi <= the durable seq. */
export class JournalLeafSource implements LeafSource {
  constructor(
    private readonly journalDir: string,
    /** Recompute each hash; without, a record's hash is its successor's prevHash (fine for a verified journal). */
    private readonly verify = false,
  ) {}
  leaves(lo: number, hi: number): Buffer[] {
    const out: Buffer[] = [];
    if (hi <= lo) return out;
    for (const e of Journal.frames(this.journalDir, { fromSeq: lo + 1, toSeq: hi, verify: this.verify })) out.push(recordLeafHash(e.hash));
    if (out.length !== hi - lo) throw new Error(`journal ${this.journalDir} holds ${out.length} of the records ${lo + 1}..${hi}`);
    return out;
  }
}

/**
 * Perfect subtrees from the store where it has them, recomputed from the level below (and
 * ultimately from leaves) where it does not. Leaf blocks are read whole and memoized.
 */
export class TreeReader implements SubtreeSource {
  private readonly blocks = new Map<number, Buffer[]>();
  private readonly memo = new Map<string, Buffer>();

  constructor(
    private readonly store: LevelStore | undefined,
    private readonly leaves: LeafSource,
    /** Leaves that exist: a perfect subtree past this is an error, not a read. */
    private readonly limit: number,
  ) {}

  perfect(level: number, index: number): Buffer {
    const width = 2 ** level;
    if ((index + 1) * width > this.limit) throw new RangeError(`subtree ${level}/${index} is beyond the ${this.limit} leaves available`);
    if (level >= STORED_MIN_LEVEL && this.store !== undefined && index < this.store.count(level)) return this.store.get(level, index);
    const key = `${level}/${index}`;
    const hit = this.memo.get(key);
    if (hit !== undefined) return hit;
    let h: Buffer;
    if (level > STORED_MIN_LEVEL) {
      h = nodeHash(this.perfect(level - 1, 2 * index), this.perfect(level - 1, 2 * index + 1));
    } else {
      const lo = index * width;
      const block = Math.floor(lo / BLOCK_LEAVES);
      const leaves = this.block(block);
      h = perfectFromLeaves(leaves, lo - block * BLOCK_LEAVES, width);
    }
    this.memo.set(key, h);
    return h;
  }

  private block(b: number): Buffer[] {
    let leaves = this.blocks.get(b);
    if (leaves === undefined) {
      const lo = b * BLOCK_LEAVES;
      leaves = this.leaves.leaves(lo, Math.min(lo + BLOCK_LEAVES, this.limit));
      this.blocks.set(b, leaves);
    }
    return leaves;
  }
}
