/**
 * The Merkle tree against an independent RFC 6962 implementation written here from the RFC text
 * (recursive MTH / PATH / SUBPROOF, and verifiers that rebuild the roots by walking the same
 * recursion backwards), the Certificate Transparency test vectors, and fast-check on random trees.
 * Nothing in the "reference" section imports the code under test.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  LeafArraySource,
  leafHashOfData,
  MerkleFrontier,
  recordLeafHash,
  rootAt,
  verifyConsistency,
  verifyInclusion,
} from '../../src/audit/merkle.js';
import { MemoryLevelStore, STORED_MIN_LEVEL, TreeReader, type LeafSource } from '../../src/audit/tree-store.js';

// ---------------------------------------------------------------------------------------------
// Reference implementation (RFC 6962 section 2.1, written independently)
// ---------------------------------------------------------------------------------------------

const H = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const refLeaf = (d: Uint8Array): Buffer => H(Uint8Array.of(0), d);
const refNode = (l: Uint8Array, r: Uint8Array): Buffer => H(Uint8Array.of(1), l, r);
const k = (n: number): number => 2 ** Math.ceil(Math.log2(n) - 1);

/** MTH over leaf hashes. */
function refMth(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return H();
  if (leaves.length === 1) return leaves[0]!;
  const s = k(leaves.length);
  return refNode(refMth(leaves.slice(0, s)), refMth(leaves.slice(s)));
}

function refPath(m: number, leaves: Buffer[]): Buffer[] {
  if (leaves.length <= 1) return [];
  const s = k(leaves.length);
  return m < s ? [...refPath(m, leaves.slice(0, s)), refMth(leaves.slice(s))] : [...refPath(m - s, leaves.slice(s)), refMth(leaves.slice(0, s))];
}

function refSubproof(m: number, leaves: Buffer[], b: boolean): Buffer[] {
  const n = leaves.length;
  if (m === n) return b ? [] : [refMth(leaves)];
  const s = k(n);
  return m <= s
    ? [...refSubproof(m, leaves.slice(0, s), b), refMth(leaves.slice(s))]
    : [...refSubproof(m - s, leaves.slice(s), false), refMth(leaves.slice(0, s))];
}

function refProof(m: number, leaves: Buffer[]): Buffer[] {
  return m === 0 || m === leaves.length ? [] : refSubproof(m, leaves, true);
}

/** Rebuilds the root from an audit path by undoing PATH's recursion (consumes the proof from the end). */
function refRootFromPath(m: number, n: number, leaf: Buffer, proof: Buffer[]): Buffer | null {
  if (n === 1) return proof.length === 0 ? leaf : null;
  if (proof.length === 0) return null;
  const s = k(n);
  const last = proof[proof.length - 1]!;
  const rest = proof.slice(0, -1);
  if (m < s) {
    const left = refRootFromPath(m, s, leaf, rest);
    return left === null ? null : refNode(left, last);
  }
  const right = refRootFromPath(m - s, n - s, leaf, rest);
  return right === null ? null : refNode(last, right);
}

function refVerifyInclusion(m: number, n: number, leaf: Buffer, proof: Buffer[], root: Buffer): boolean {
  if (m < 0 || m >= n) return false;
  const r = refRootFromPath(m, n, leaf, proof);
  return r !== null && r.equals(root);
}

/** Old and new roots implied by a consistency proof, undoing SUBPROOF's recursion. */
function refRootsFromProof(m: number, n: number, b: boolean, firstRoot: Buffer, proof: Buffer[]): [Buffer, Buffer] | null {
  if (m === n) {
    if (b) return [firstRoot, firstRoot];
    if (proof.length !== 1) return null;
    return [proof[0]!, proof[0]!];
  }
  if (proof.length === 0) return null;
  const s = k(n);
  const last = proof[proof.length - 1]!;
  const rest = proof.slice(0, -1);
  if (m <= s) {
    const sub = refRootsFromProof(m, s, b, firstRoot, rest);
    return sub === null ? null : [sub[0], refNode(sub[1], last)];
  }
  const sub = refRootsFromProof(m - s, n - s, false, firstRoot, rest);
  return sub === null ? null : [refNode(last, sub[0]), refNode(last, sub[1])];
}

function refVerifyConsistency(m: number, n: number, r1: Buffer, r2: Buffer, proof: Buffer[]): boolean {
  if (m > n) return false;
  if (m === 0) return proof.length === 0;
  if (m === n) return proof.length === 0 && r1.equals(r2);
  const roots = refRootsFromProof(m, n, true, r1, proof);
  return roots !== null && roots[0].equals(r1) && roots[1].equals(r2);
}

// ---------------------------------------------------------------------------------------------
// RFC 6962 test vectors (Certificate Transparency reference: 8 leaves)
// ---------------------------------------------------------------------------------------------

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Buffer => Buffer.from(s, 'hex');
const CT_DATA = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(unhex);
const CT_ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const CT_INCLUSION = [
  { index: 0, size: 8, path: ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4'] },
  { index: 5, size: 8, path: ['bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7'] },
];
const CT_CONSISTENCY = [
  { first: 2, second: 8, proof: ['5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4'] },
  { first: 6, second: 8, proof: ['0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7'] },
];

describe('RFC 6962 test vectors', () => {
  const refLeaves = CT_DATA.map(refLeaf);
  const leaves = CT_DATA.map((d) => leafHashOfData(d));

  it('both implementations produce the reference roots for sizes 0..8', () => {
    expect(hex(EMPTY_ROOT)).toBe(CT_ROOTS[0]);
    const f = new MerkleFrontier();
    for (let n = 0; n <= 8; n++) {
      expect(hex(refMth(refLeaves.slice(0, n)))).toBe(CT_ROOTS[n]);
      expect(hex(f.root())).toBe(CT_ROOTS[n]);
      expect(hex(rootAt(new LeafArraySource(leaves), n))).toBe(CT_ROOTS[n]);
      if (n < 8) f.push(leaves[n]!);
    }
  });

  it('inclusion proofs match the reference paths and verify', () => {
    for (const v of CT_INCLUSION) {
      expect(refPath(v.index, refLeaves.slice(0, v.size)).map(hex)).toEqual(v.path);
      const p = inclusionProof(new LeafArraySource(leaves), v.index, v.size);
      expect(p.map(hex)).toEqual(v.path);
      const root = unhex(CT_ROOTS[v.size]!);
      expect(verifyInclusion(leaves[v.index]!, v.index, v.size, p, root)).toBe(true);
      expect(refVerifyInclusion(v.index, v.size, refLeaves[v.index]!, p, root)).toBe(true);
    }
  });

  it('consistency proofs match the reference proofs and verify', () => {
    for (const v of CT_CONSISTENCY) {
      expect(refProof(v.first, refLeaves.slice(0, v.second)).map(hex)).toEqual(v.proof);
      const p = consistencyProof(new LeafArraySource(leaves), v.first, v.second);
      expect(p.map(hex)).toEqual(v.proof);
      const r1 = unhex(CT_ROOTS[v.first]!);
      const r2 = unhex(CT_ROOTS[v.second]!);
      expect(verifyConsistency(v.first, v.second, r1, r2, p)).toBe(true);
      expect(refVerifyConsistency(v.first, v.second, r1, r2, p)).toBe(true);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Random trees
// ---------------------------------------------------------------------------------------------

function leavesFor(seed: number, n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => refLeaf(H(Buffer.from(`leaf ${seed} ${i}`))));
}

function mutate(proof: Buffer[], i: number): Buffer[] {
  const out = proof.map((b) => Buffer.from(b));
  out[i % out.length]![i % 32] ^= 0x40;
  return out;
}

describe('random trees: code under test vs the reference', () => {
  it('roots, inclusion proofs and their verification agree, and damaged proofs fail both verifiers', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 600 }), fc.nat(), fc.nat(), (n, seed, pick) => {
        const leaves = leavesFor(seed, n);
        const f = new MerkleFrontier();
        for (const l of leaves) f.push(l);
        const root = refMth(leaves);
        expect(f.root().equals(root)).toBe(true);
        const m = pick % n;
        const proof = inclusionProof(new LeafArraySource(leaves), m, n);
        expect(proof.map(hex)).toEqual(refPath(m, leaves).map(hex));
        expect(verifyInclusion(leaves[m]!, m, n, proof, root)).toBe(true);
        expect(refVerifyInclusion(m, n, leaves[m]!, proof, root)).toBe(true);
        if (proof.length > 0) {
          const bad = mutate(proof, pick);
          expect(verifyInclusion(leaves[m]!, m, n, bad, root)).toBe(false);
          expect(refVerifyInclusion(m, n, leaves[m]!, bad, root)).toBe(false);
          expect(verifyInclusion(leaves[m]!, m, n, proof.slice(1), root)).toBe(false);
          expect(verifyInclusion(leaves[m]!, m, n, [...proof, proof[0]!], root)).toBe(false);
        }
        // the wrong leaf or the wrong position never verifies
        const other = (m + 1) % n;
        if (other !== m) expect(verifyInclusion(leaves[other]!, m, n, proof, root)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('consistency proofs agree with the reference and fail when damaged', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 400 }), fc.nat(), fc.nat(), (n, seed, pick) => {
        const leaves = leavesFor(seed, n);
        const m = pick % (n + 1);
        const r1 = refMth(leaves.slice(0, m));
        const r2 = refMth(leaves);
        const proof = consistencyProof(new LeafArraySource(leaves), m, n);
        expect(proof.map(hex)).toEqual(refProof(m, leaves).map(hex));
        expect(verifyConsistency(m, n, r1, r2, proof)).toBe(true);
        expect(refVerifyConsistency(m, n, r1, r2, proof)).toBe(true);
        if (proof.length > 0) {
          const bad = mutate(proof, pick);
          expect(verifyConsistency(m, n, r1, r2, bad)).toBe(false);
          expect(refVerifyConsistency(m, n, r1, r2, bad)).toBe(false);
        }
        if (m > 0 && m < n) {
          // a different history of the same size is not a prefix
          const forged = refMth([...leaves.slice(0, m - 1), refLeaf(Buffer.from('forged'))]);
          expect(verifyConsistency(m, n, forged, r2, proof)).toBe(false);
          expect(refVerifyConsistency(m, n, forged, r2, proof)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the frontier keeps the RFC root at every size while it grows', () => {
    const leaves = leavesFor(7, 1100);
    const f = new MerkleFrontier();
    const checkAt = new Set([1, 2, 3, 255, 256, 257, 511, 512, 513, 767, 1023, 1024, 1025, 1100]);
    for (let i = 0; i < leaves.length; i++) {
      f.push(leaves[i]!);
      if (checkAt.has(i + 1)) expect(hex(f.root())).toBe(hex(refMth(leaves.slice(0, i + 1))));
    }
  });
});

describe('stored subtrees (the cache behind proofs and restarts)', () => {
  class ArrayLeaves implements LeafSource {
    reads = 0;
    constructor(private readonly all: Buffer[]) {}
    leaves(lo: number, hi: number): Buffer[] {
      this.reads++;
      return this.all.slice(lo, hi);
    }
  }

  it('a frontier rebuilt from stored levels continues exactly like the original, and proofs from the store match the reference', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 0, max: 2000 }), fc.nat(), (n, extra, seed) => {
        const leaves = leavesFor(seed, n + extra);
        const store = new MemoryLevelStore();
        const sink = (level: number, index: number, h: Buffer): void => {
          expect(index).toBe(store.count(level));
          store.append(level, h);
        };
        const f = new MerkleFrontier(0, [], sink, STORED_MIN_LEVEL);
        for (let i = 0; i < n; i++) f.push(leaves[i]!);
        // restart: from the stored levels (whole 256-leaf blocks) plus the leaves after them
        const base = store.count(STORED_MIN_LEVEL) * 256;
        const src = new ArrayLeaves(leaves);
        const g = MerkleFrontier.fromSource(base, new TreeReader(store, src, base), sink, STORED_MIN_LEVEL);
        for (let i = base; i < n + extra; i++) g.push(leaves[i]!);
        const total = n + extra;
        expect(hex(g.root())).toBe(hex(refMth(leaves)));
        const reader = new TreeReader(store, src, total);
        const m = seed % total;
        expect(inclusionProof(reader, m, total).map(hex)).toEqual(refPath(m, leaves).map(hex));
        const first = 1 + (seed % total);
        expect(consistencyProof(reader, first, total).map(hex)).toEqual(refProof(first, leaves).map(hex));
        expect(hex(rootAt(reader, first))).toBe(hex(refMth(leaves.slice(0, first))));
      }),
      { numRuns: 40 },
    );
  });

  it('a record leaf is the RFC leaf hash of the 32-byte record hash', () => {
    const recordHash = H(Buffer.from('a record body'));
    expect(hex(recordLeafHash(recordHash))).toBe(hex(refLeaf(recordHash)));
    expect(() => recordLeafHash(Buffer.alloc(31))).toThrow(TypeError);
  });

  it('refuses proofs for leaves or sizes that do not exist', () => {
    const src = new LeafArraySource(leavesFor(1, 5));
    expect(() => inclusionProof(src, 5, 5)).toThrow(RangeError);
    expect(() => inclusionProof(src, -1, 5)).toThrow(RangeError);
    expect(() => consistencyProof(src, 6, 5)).toThrow(RangeError);
    expect(verifyConsistency(3, 3, EMPTY_ROOT, EMPTY_ROOT, [])).toBe(true);
    expect(verifyConsistency(3, 2, EMPTY_ROOT, EMPTY_ROOT, [])).toBe(false);
    expect(verifyInclusion(Buffer.alloc(32), 0, 0, [], EMPTY_ROOT)).toBe(false);
  });
});
