/**
 * Proofs as an examiner checks them, with code written here from docs/audit-format.md alone:
 * SHA-256 of the record body, the RFC 6962 leaf and node hashes, the audit path and consistency
 * proof walked with an independent recursive verifier, and the Ed25519 signature over the
 * checkpoint note rebuilt byte for byte. Nothing here imports the verification code under test.
 */
import { createHash, createPublicKey, verify as edVerify } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proveConsistency, proveInclusion, loadCheckpoints } from '../../src/audit/prove.js';
import { tempDir } from '../helpers.js';
import { writeAuditedJournal, type WrittenJournal } from './helpers.js';

// ---------------------------------------------------------------------------------------------
// The examiner's verifier (independent of src/audit)
// ---------------------------------------------------------------------------------------------

const sha = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const leafOf = (recordHash: Buffer): Buffer => sha(Uint8Array.of(0), recordHash);
const nodeOf = (l: Buffer, r: Buffer): Buffer => sha(Uint8Array.of(1), l, r);
const split = (n: number): number => {
  let k = 1;
  while (k << 1 < n) k <<= 1;
  return k;
};

function rootFromPath(m: number, n: number, leaf: Buffer, proof: Buffer[]): Buffer | null {
  if (n === 1) return proof.length === 0 ? leaf : null;
  if (proof.length === 0) return null;
  const k = split(n);
  const sib = proof[proof.length - 1]!;
  const rest = proof.slice(0, -1);
  if (m < k) {
    const l = rootFromPath(m, k, leaf, rest);
    return l && nodeOf(l, sib);
  }
  const r = rootFromPath(m - k, n - k, leaf, rest);
  return r && nodeOf(sib, r);
}

function rootsFromConsistency(m: number, n: number, whole: boolean, oldRoot: Buffer, proof: Buffer[]): [Buffer, Buffer] | null {
  if (m === n) {
    if (whole) return [oldRoot, oldRoot];
    return proof.length === 1 ? [proof[0]!, proof[0]!] : null;
  }
  if (proof.length === 0) return null;
  const k = split(n);
  const sib = proof[proof.length - 1]!;
  const rest = proof.slice(0, -1);
  if (m <= k) {
    const s = rootsFromConsistency(m, k, whole, oldRoot, rest);
    return s && [s[0], nodeOf(s[1], sib)];
  }
  const s = rootsFromConsistency(m - k, n - k, false, oldRoot, rest);
  return s && [nodeOf(sib, s[0]), nodeOf(sib, s[1])];
}

interface CheckpointJson {
  origin: string;
  treeSize: number;
  rootHash: string;
  timestamp: string;
  keyId: string;
  signature: string;
}

function signatureHolds(c: CheckpointJson, publicPem: string): boolean {
  const note = `bulwark-audit-checkpoint/v1\n${c.origin}\n${c.treeSize}\n${c.rootHash}\n${c.timestamp}\n`;
  const key = createPublicKey(publicPem);
  const raw = Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url');
  if (sha(raw).subarray(0, 8).toString('hex') !== c.keyId) return false;
  return edVerify(null, Buffer.from(note, 'utf8'), key, Buffer.from(c.signature, 'base64'));
}

function examineInclusion(doc: { seq: number; treeSize: number; record: { body: string; hash: string }; auditPath: string[]; checkpoint: CheckpointJson }, publicPem: string): boolean {
  const body = Buffer.from(doc.record.body, 'base64');
  // body layout: version u8, kind u8, seq u64 LE, ts i64 LE, prevHash[32], payload JSON
  if (body[0] !== 1 || Number(body.readBigUInt64LE(2)) !== doc.seq) return false;
  JSON.parse(body.subarray(50).toString('utf8'));
  const recordHash = sha(body);
  if (recordHash.toString('hex') !== doc.record.hash) return false;
  if (doc.treeSize !== doc.checkpoint.treeSize || !signatureHolds(doc.checkpoint, publicPem)) return false;
  const root = rootFromPath(doc.seq - 1, doc.treeSize, leafOf(recordHash), doc.auditPath.map((h) => Buffer.from(h, 'hex')));
  return root !== null && root.toString('hex') === doc.checkpoint.rootHash;
}

function examineConsistency(doc: { first: CheckpointJson; second: CheckpointJson; proof: string[] }, publicPem: string): boolean {
  if (!signatureHolds(doc.first, publicPem) || !signatureHolds(doc.second, publicPem)) return false;
  const r1 = Buffer.from(doc.first.rootHash, 'hex');
  const r2 = Buffer.from(doc.second.rootHash, 'hex');
  const proof = doc.proof.map((h) => Buffer.from(h, 'hex'));
  const m = doc.first.treeSize;
  const n = doc.second.treeSize;
  if (m === n) return proof.length === 0 && r1.equals(r2);
  const roots = rootsFromConsistency(m, n, true, r1, proof);
  return roots !== null && roots[0].equals(r1) && roots[1].equals(r2);
}

// ---------------------------------------------------------------------------------------------

let root: { dir: string; cleanup: () => void };
let w: WrittenJournal;

beforeAll(async () => {
  root = tempDir('bulwark-audit-proofs-');
  w = await writeAuditedJournal(path.join(root.dir, 'node'), { records: 1500, checkpointEvery: 200 });
});
afterAll(() => root.cleanup());

describe('inclusion proofs against signed checkpoints', () => {
  it('every sampled record proves into the latest checkpoint, checked by the examiner\'s own code', () => {
    const latest = loadCheckpoints(w.dataDir).at(-1)!;
    for (const seq of [1, 2, 3, 255, 256, 257, 511, 777, 1024, latest.treeSize - 1, latest.treeSize]) {
      const doc = proveInclusion(w.dataDir, seq);
      expect(doc.treeSize).toBe(latest.treeSize);
      expect(examineInclusion(doc, w.publicPem)).toBe(true);
    }
  });

  it('proves against an older checkpoint on request', () => {
    const older = loadCheckpoints(w.dataDir)[2]!;
    const doc = proveInclusion(w.dataDir, 100, { treeSize: older.treeSize });
    expect(doc.treeSize).toBe(older.treeSize);
    expect(examineInclusion(doc, w.publicPem)).toBe(true);
  });

  it('a proof for a different record, a damaged path or a forged checkpoint does not check', () => {
    const doc = proveInclusion(w.dataDir, 300);
    const other = proveInclusion(w.dataDir, 301);
    expect(examineInclusion({ ...doc, record: other.record }, w.publicPem)).toBe(false);
    const path2 = [...doc.auditPath];
    path2[1] = path2[1]!.replace(/^./, (c) => (c === 'a' ? 'b' : 'a'));
    expect(examineInclusion({ ...doc, auditPath: path2 }, w.publicPem)).toBe(false);
    expect(examineInclusion({ ...doc, checkpoint: { ...doc.checkpoint, treeSize: doc.checkpoint.treeSize + 1 } }, w.publicPem)).toBe(false);
  });

  it('a seq past the latest checkpoint is refused with the reason', () => {
    const latest = loadCheckpoints(w.dataDir).at(-1)!;
    expect(() => proveInclusion(w.dataDir, latest.treeSize + 1)).toThrow(/not covered by the latest checkpoint/);
  });

  it('without the stored subtrees the proofs are rebuilt from the journal and are the same', () => {
    const copy = path.join(root.dir, 'nocache');
    fs.cpSync(w.dataDir, copy, { recursive: true });
    fs.rmSync(path.join(copy, 'audit', 'tree'), { recursive: true, force: true });
    const a = proveInclusion(w.dataDir, 700);
    const b = proveInclusion(copy, 700);
    expect(b.auditPath).toEqual(a.auditPath);
    expect(examineInclusion(b, w.publicPem)).toBe(true);
  });
});

describe('consistency proofs between checkpoints', () => {
  it('every checkpoint is consistent with every later one', () => {
    const cps = loadCheckpoints(w.dataDir);
    expect(cps.length).toBeGreaterThanOrEqual(7);
    for (let i = 0; i < cps.length; i++) {
      for (let j = i; j < cps.length; j += 2) {
        const doc = proveConsistency(w.dataDir, { from: cps[i]!.treeSize, to: cps[j]!.treeSize });
        expect(examineConsistency(doc, w.publicPem)).toBe(true);
      }
    }
  });

  it('a consistency proof does not check against a different old root', () => {
    const cps = loadCheckpoints(w.dataDir);
    const doc = proveConsistency(w.dataDir, { from: cps[1]!.treeSize });
    expect(examineConsistency(doc, w.publicPem)).toBe(true);
    const forged = { ...doc, first: { ...doc.first, rootHash: cps[2]!.rootHash } };
    expect(examineConsistency(forged, w.publicPem)).toBe(false);
  });
});
