/**
 * Merkle tree over the journal in the RFC 6962 / RFC 9162 shape (the Certificate Transparency
 * tree): leaf hash = SHA-256(0x00 || leaf data), interior node = SHA-256(0x01 || left || right),
 * and for n leaves the left subtree holds the largest power of two strictly below n.
 *
 * The leaf data of journal record N is its 32-byte record hash, SHA-256(body) (the value the next
 * record carries as prevHash), so leaf N-1 = SHA-256(0x00 || SHA-256(body of seq N)). The journal
 * already computes that hash at append time; the tree costs two more small hashes per record
 * instead of rehashing every body. docs/audit-format.md has the byte-level definition.
 *
 * Maintenance is incremental: MerkleFrontier keeps the compact range [0, n) (one perfect subtree
 * per set bit of n), so appending a leaf is one leaf hash plus on average one node hash, and the
 * root is at most log2(n) hashes. Proofs are computed from any SubtreeSource (stored subtree
 * hashes, or leaves recomputed from the journal).
 */
import { createHash, hash as oneShotHash } from 'node:crypto';

export const MERKLE_HASH_BYTES = 32;
const LEAF_PREFIX = 0x00;
const NODE_PREFIX = 0x01;
/** Sizes are seqs: below 2^53, so plain numbers with arithmetic (not 32-bit bit ops) are exact. */
const MAX_SIZE = Number.MAX_SAFE_INTEGER;

const sha256: (data: Buffer) => Buffer =
  typeof oneShotHash === 'function'
    ? (data) => oneShotHash('sha256', data, 'buffer')
    : (data) => createHash('sha256').update(data).digest();

/** Root of the empty tree: SHA-256 of the empty string (RFC 6962 section 2.1). */
export const EMPTY_ROOT: Buffer = sha256(Buffer.alloc(0));

// Scratch buffers: the tree runs on one thread, and hashing copies out before returning.
const leafScratch = Buffer.alloc(1 + MERKLE_HASH_BYTES);
leafScratch[0] = LEAF_PREFIX;
const nodeScratch = Buffer.alloc(1 + 2 * MERKLE_HASH_BYTES);
nodeScratch[0] = NODE_PREFIX;

/** RFC 6962 leaf hash of arbitrary leaf data: SHA-256(0x00 || data). */
export function leafHashOfData(data: Uint8Array): Buffer {
  if (data.length === MERKLE_HASH_BYTES) return recordLeafHash(data);
  return sha256(Buffer.concat([Buffer.from([LEAF_PREFIX]), data]));
}

/** Leaf hash of a journal record, from its 32-byte record hash: SHA-256(0x00 || recordHash). */
export function recordLeafHash(recordHash: Uint8Array): Buffer {
  if (recordHash.length !== MERKLE_HASH_BYTES) throw new TypeError(`a record hash is ${MERKLE_HASH_BYTES} bytes, got ${recordHash.length}`);
  leafScratch.set(recordHash, 1);
  return sha256(leafScratch);
}

/** RFC 6962 interior node: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length !== MERKLE_HASH_BYTES || right.length !== MERKLE_HASH_BYTES) {
    throw new TypeError(`node children are ${MERKLE_HASH_BYTES}-byte hashes`);
  }
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 1 + MERKLE_HASH_BYTES);
  return sha256(nodeScratch);
}

/** Largest power of two strictly below n (n >= 2): the RFC's split point k. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  while (n % 2 === 0) n /= 2;
  return n === 1;
}

function log2Exact(n: number): number {
  let l = 0;
  while (n > 1) {
    n /= 2;
    l++;
  }
  return l;
}

function checkSize(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_SIZE) throw new RangeError(`${name} must be a non-negative safe integer, got ${n}`);
}

// ---------------------------------------------------------------------------------------------
// Incremental maintenance: the compact range [0, size)
// ---------------------------------------------------------------------------------------------

/** Called for each perfect subtree the frontier completes at or above `minLevel`. */
export type CompletedNodeSink = (level: number, index: number, hash: Buffer) => void;

/**
 * The roots of the perfect subtrees that make up [0, size): one per set bit of `size`, the biggest
 * (leftmost) at the highest level. That is all the state needed to append and to compute the root.
 */
export class MerkleFrontier {
  private sizeValue: number;
  /** nodes[level] is the perfect subtree of 2^level leaves in the decomposition, if that bit is set. */
  private readonly nodes: (Buffer | undefined)[];

  constructor(
    size = 0,
    nodes: (Buffer | undefined)[] = [],
    private readonly sink?: CompletedNodeSink,
    private readonly sinkMinLevel = 1,
  ) {
    checkSize('size', size);
    this.sizeValue = size;
    this.nodes = nodes.slice();
    let rest = size;
    for (let level = 0; rest > 0 || level < this.nodes.length; level++) {
      const bit = rest % 2 === 1;
      rest = Math.floor(rest / 2);
      const present = this.nodes[level] !== undefined;
      if (bit !== present) throw new RangeError(`frontier for size ${size} needs ${bit ? 'a' : 'no'} node at level ${level}`);
    }
  }

  get size(): number {
    return this.sizeValue;
  }

  /** Appends one leaf hash (already prefixed and hashed: see recordLeafHash). */
  push(leaf: Buffer): void {
    let h = leaf;
    let level = 0;
    let n = this.sizeValue;
    // Carry like binary addition: each set low bit merges its subtree with the new one.
    while (n % 2 === 1) {
      h = nodeHash(this.nodes[level]!, h);
      this.nodes[level] = undefined;
      level++;
      n = (n - 1) / 2;
      if (this.sink !== undefined && level >= this.sinkMinLevel) {
        this.sink(level, (this.sizeValue + 1) / 2 ** level - 1, h);
      }
    }
    this.nodes[level] = h;
    this.sizeValue++;
  }

  /** MTH(D[0:size]) per RFC 6962. */
  root(): Buffer {
    let acc: Buffer | undefined;
    for (let level = 0; level < this.nodes.length; level++) {
      const n = this.nodes[level];
      if (n === undefined) continue;
      acc = acc === undefined ? n : nodeHash(n, acc);
    }
    return acc ?? EMPTY_ROOT;
  }

  /** The compact range, lowest level first (index = level). */
  snapshot(): { size: number; nodes: (Buffer | undefined)[] } {
    return { size: this.sizeValue, nodes: this.nodes.slice() };
  }

  /**
   * The frontier of size `size` (a multiple of nothing in particular) from a source of perfect
   * subtrees: the node at each set bit L is the subtree with index floor(size / 2^L) - 1.
   */
  static fromSource(size: number, source: SubtreeSource, sink?: CompletedNodeSink, sinkMinLevel?: number): MerkleFrontier {
    checkSize('size', size);
    const nodes: (Buffer | undefined)[] = [];
    let rest = size;
    for (let level = 0; rest > 0; level++) {
      if (rest % 2 === 1) nodes[level] = source.perfect(level, Math.floor(size / 2 ** level) - 1);
      rest = Math.floor(rest / 2);
    }
    return new MerkleFrontier(size, nodes, sink, sinkMinLevel);
  }
}

// ---------------------------------------------------------------------------------------------
// Proofs
// ---------------------------------------------------------------------------------------------

/** Hashes of perfect, aligned subtrees: leaves [index * 2^level, (index + 1) * 2^level). */
export interface SubtreeSource {
  perfect(level: number, index: number): Buffer;
}

/** A source over leaf hashes held in memory (tests, small trees). */
export class LeafArraySource implements SubtreeSource {
  constructor(private readonly leaves: readonly Buffer[]) {}
  perfect(level: number, index: number): Buffer {
    const width = 2 ** level;
    const lo = index * width;
    if (lo + width > this.leaves.length) throw new RangeError(`subtree ${level}/${index} is beyond ${this.leaves.length} leaves`);
    return perfectFromLeaves(this.leaves, lo, width);
  }
}

/** Hash of the perfect subtree over leaves[lo, lo + width), width a power of two. */
export function perfectFromLeaves(leaves: readonly Buffer[], lo: number, width: number): Buffer {
  if (width === 1) return leaves[lo]!;
  let level: Buffer[] = leaves.slice(lo, lo + width);
  while (level.length > 1) {
    const up: Buffer[] = new Array<Buffer>(level.length / 2);
    for (let i = 0; i < up.length; i++) up[i] = nodeHash(level[2 * i]!, level[2 * i + 1]!);
    level = up;
  }
  return level[0]!;
}

/** MTH(D[lo:hi]) for a range that occurs in the RFC recursion (so its perfect parts are aligned). */
export function subtreeHash(src: SubtreeSource, lo: number, hi: number): Buffer {
  const n = hi - lo;
  if (n <= 0) throw new RangeError(`empty subtree [${lo}, ${hi})`);
  if (isPowerOfTwo(n) && lo % n === 0) return src.perfect(log2Exact(n), lo / n);
  const k = splitPoint(n);
  return nodeHash(subtreeHash(src, lo, lo + k), subtreeHash(src, lo + k, hi));
}

/** Root of the tree of `size` leaves. */
export function rootAt(src: SubtreeSource, size: number): Buffer {
  checkSize('size', size);
  return size === 0 ? EMPTY_ROOT : subtreeHash(src, 0, size);
}

/** RFC 6962 PATH(m, D[n]): the audit path of leaf `index` in the tree of `size` leaves. */
export function inclusionProof(src: SubtreeSource, index: number, size: number): Buffer[] {
  checkSize('size', size);
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) throw new RangeError(`leaf index ${index} is not in a tree of ${size}`);
  const out: Buffer[] = [];
  const path = (m: number, lo: number, hi: number): void => {
    const n = hi - lo;
    if (n === 1) return;
    const k = splitPoint(n);
    if (m < k) {
      path(m, lo, lo + k);
      out.push(subtreeHash(src, lo + k, hi));
    } else {
      path(m - k, lo + k, hi);
      out.push(subtreeHash(src, lo, lo + k));
    }
  };
  path(index, 0, size);
  return out;
}

/** RFC 6962 PROOF(m, D[n]): proves the tree of `first` leaves is a prefix of the one of `second`. */
export function consistencyProof(src: SubtreeSource, first: number, second: number): Buffer[] {
  checkSize('first', first);
  checkSize('second', second);
  if (first > second) throw new RangeError(`consistency proof from ${first} to a smaller tree of ${second}`);
  if (first === 0 || first === second) return [];
  const out: Buffer[] = [];
  const sub = (m: number, lo: number, hi: number, whole: boolean): void => {
    const n = hi - lo;
    if (m === n) {
      if (!whole) out.push(subtreeHash(src, lo, hi));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      sub(m, lo, lo + k, whole);
      out.push(subtreeHash(src, lo + k, hi));
    } else {
      sub(m - k, lo + k, hi, false);
      out.push(subtreeHash(src, lo, lo + k));
    }
  };
  sub(first, 0, second, true);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2)
// ---------------------------------------------------------------------------------------------

function isHash(b: unknown): b is Uint8Array {
  return b instanceof Uint8Array && b.length === MERKLE_HASH_BYTES;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

const odd = (x: number): boolean => x % 2 === 1;
const half = (x: number): number => Math.floor(x / 2);

/** Root implied by an inclusion proof, or undefined when the proof has the wrong shape. */
export function rootFromInclusionProof(leaf: Uint8Array, index: number, size: number, proof: readonly Uint8Array[]): Buffer | undefined {
  if (!isHash(leaf) || !Array.isArray(proof) || !proof.every(isHash)) return undefined;
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return undefined;
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (sn === 0) return undefined;
    if (odd(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 ? r : undefined;
}

export function verifyInclusion(leaf: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!isHash(root)) return false;
  const r = rootFromInclusionProof(leaf, index, size, proof);
  return r !== undefined && same(r, root);
}

export function verifyConsistency(
  first: number,
  second: number,
  firstRoot: Uint8Array,
  secondRoot: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  if (!isHash(firstRoot) || !isHash(secondRoot) || !Array.isArray(proof) || !proof.every(isHash)) return false;
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second) || first < 0 || first > second) return false;
  if (first === second) return proof.length === 0 && same(firstRoot, secondRoot);
  if (first === 0) return proof.length === 0 && same(firstRoot, EMPTY_ROOT);
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(first) ? [firstRoot, ...proof] : [...proof];
  let fn = first - 1;
  let sn = second - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr: Buffer = Buffer.from(path[0]!);
  let sr: Buffer = Buffer.from(path[0]!);
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && same(fr, firstRoot) && same(sr, secondRoot);
}
