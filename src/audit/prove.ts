/**
 * Proofs an examiner can check with nothing but SHA-256 and Ed25519: an inclusion proof that one
 * record is in the log a signed checkpoint vouches for, and a consistency proof that a later
 * checkpoint extends an earlier one (nothing was removed or rewritten in between). The JSON
 * formats and the checking steps are in docs/audit-format.md.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatNanos } from '../core/time.js';
import { Journal } from '../engine/journal.js';
import { checkpointSignatureValid, readCheckpointFile, type Checkpoint } from './checkpoint.js';
import { auditDir, type PublicKeyInfo } from './keys.js';
import {
  consistencyProof,
  inclusionProof,
  MerkleFrontier,
  recordLeafHash,
  rootAt,
  verifyConsistency,
  verifyInclusion,
  type SubtreeSource,
} from './merkle.js';
import { CHECKPOINTS_FILE, TREE_DIR } from './paths.js';
import { encodeRecordBody } from './records.js';
import { BLOCK_LEAVES, JournalLeafSource, MemoryLevelStore, STORED_MIN_LEVEL, TreeReader } from './tree-store.js';

export const INCLUSION_FORMAT = 'bulwark-audit-inclusion-proof/v1';
export const CONSISTENCY_FORMAT = 'bulwark-audit-consistency-proof/v1';

export interface InclusionProofDoc {
  format: typeof INCLUSION_FORMAT;
  seq: number;
  leafIndex: number;
  treeSize: number;
  record: { kind: 'input' | 'event'; tsNs: string; time: string; type: string; hash: string; body: string };
  leafHash: string;
  auditPath: string[];
  checkpoint: Checkpoint;
}

export interface ConsistencyProofDoc {
  format: typeof CONSISTENCY_FORMAT;
  first: Checkpoint;
  second: Checkpoint;
  proof: string[];
}

export function loadCheckpoints(dataDir: string): Checkpoint[] {
  return readCheckpointFile(path.join(auditDir(dataDir), CHECKPOINTS_FILE)).checkpoints.map((c) => c.checkpoint);
}

/**
 * Subtree hashes for a tree of `size` records: the node's stored levels when they cover it,
 * otherwise rebuilt with one pass over the journal.
 */
export function proofSource(dataDir: string, size: number): SubtreeSource {
  const journalDir = path.join(dataDir, 'journal');
  const treeDir = path.join(auditDir(dataDir), TREE_DIR);
  const stored = fs.existsSync(treeDir) ? MemoryLevelStore.load(treeDir) : new MemoryLevelStore();
  if (stored.count(STORED_MIN_LEVEL) >= Math.floor(size / BLOCK_LEAVES)) return new TreeReader(stored, new JournalLeafSource(journalDir), size);
  // One pass stores every 256-leaf subtree and above; the few leaf blocks a proof needs below
  // that are read again from the journal.
  const store = new MemoryLevelStore();
  const frontier = new MerkleFrontier(0, [], (level, _i, h) => store.append(level, h), STORED_MIN_LEVEL);
  if (size > 0) for (const e of Journal.frames(journalDir, { toSeq: size, verify: true })) frontier.push(recordLeafHash(e.hash));
  if (frontier.size < size) throw new RangeError(`the journal holds ${frontier.size} records, fewer than ${size}`);
  return new TreeReader(store, new JournalLeafSource(journalDir), size);
}

function pickCheckpoint(checkpoints: Checkpoint[], treeSize: number | undefined, what: string): Checkpoint {
  if (checkpoints.length === 0) throw new RangeError('no checkpoint has been signed yet (the node signs one every audit.checkpoint interval and at shutdown)');
  if (treeSize === undefined) return checkpoints[checkpoints.length - 1]!;
  const c = [...checkpoints].reverse().find((x) => x.treeSize === treeSize);
  if (c === undefined) throw new RangeError(`${what}: there is no checkpoint of ${treeSize} records`);
  return c;
}

/** Inclusion proof of record `seq` against the latest checkpoint (or the one of treeSize). */
export function proveInclusion(dataDir: string, seq: number, opts: { treeSize?: number } = {}): InclusionProofDoc {
  const checkpoint = pickCheckpoint(loadCheckpoints(dataDir), opts.treeSize, '--checkpoint');
  if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError(`seq must be a positive integer, got ${seq}`);
  if (seq > checkpoint.treeSize) {
    throw new RangeError(`seq ${seq} is not covered by the latest checkpoint (${checkpoint.treeSize} records); wait for the next one or stop the node, which signs a final checkpoint`);
  }
  const journalDir = path.join(dataDir, 'journal');
  let prevHash: Buffer = Buffer.alloc(32);
  let found: { body: Buffer; hash: Buffer; kind: 'input' | 'event'; ts: bigint; type: string } | undefined;
  for (const e of Journal.read(journalDir, { fromSeq: Math.max(1, seq - 1), toSeq: seq, verify: true })) {
    if (e.seq === seq) {
      const body = encodeRecordBody(e, prevHash);
      if (!createHash('sha256').update(body).digest().equals(e.hash)) throw new Error(`record ${seq} does not re-encode to the bytes that were hashed`);
      found = { body, hash: e.hash, kind: e.kind, ts: e.ts, type: e.payload.type };
    } else {
      prevHash = e.hash;
    }
  }
  if (found === undefined) throw new RangeError(`the journal has no record ${seq}`);
  const src = proofSource(dataDir, checkpoint.treeSize);
  const leaf = recordLeafHash(found.hash);
  const pathHashes = inclusionProof(src, seq - 1, checkpoint.treeSize);
  if (!verifyInclusion(leaf, seq - 1, checkpoint.treeSize, pathHashes, Buffer.from(checkpoint.rootHash, 'hex'))) {
    throw new Error(`the proof for seq ${seq} does not reach the signed root of checkpoint ${checkpoint.treeSize}: the journal or the stored tree has changed (run bulwark audit verify)`);
  }
  return {
    format: INCLUSION_FORMAT,
    seq,
    leafIndex: seq - 1,
    treeSize: checkpoint.treeSize,
    record: { kind: found.kind, tsNs: found.ts.toString(), time: formatNanos(found.ts), type: found.type, hash: found.hash.toString('hex'), body: found.body.toString('base64') },
    leafHash: leaf.toString('hex'),
    auditPath: pathHashes.map((h) => h.toString('hex')),
    checkpoint,
  };
}

/** Consistency proof between two checkpoints (default: the first and the latest). */
export function proveConsistency(dataDir: string, opts: { from?: number; to?: number } = {}): ConsistencyProofDoc {
  const cps = loadCheckpoints(dataDir);
  const second = pickCheckpoint(cps, opts.to, '--to');
  const first = opts.from === undefined ? pickCheckpoint(cps.slice(0, 1), undefined, '--from') : pickCheckpoint(cps, opts.from, '--from');
  if (first.treeSize > second.treeSize) throw new RangeError(`--from ${first.treeSize} is after --to ${second.treeSize}`);
  const src = proofSource(dataDir, second.treeSize);
  const proof = consistencyProof(src, first.treeSize, second.treeSize);
  if (!verifyConsistency(first.treeSize, second.treeSize, Buffer.from(first.rootHash, 'hex'), Buffer.from(second.rootHash, 'hex'), proof)) {
    const actual = rootAt(src, first.treeSize).toString('hex');
    throw new Error(`checkpoints ${first.treeSize} and ${second.treeSize} are not consistent with the journal (root at ${first.treeSize} is ${actual}, signed ${first.rootHash}): run bulwark audit verify`);
  }
  return { format: CONSISTENCY_FORMAT, first, second, proof: proof.map((h) => h.toString('hex')) };
}

/** Checks a proof document the way docs/audit-format.md tells an examiner to. */
export function checkInclusionDoc(doc: InclusionProofDoc, key: PublicKeyInfo): string | undefined {
  const body = Buffer.from(doc.record.body, 'base64');
  const hash = createHash('sha256').update(body).digest();
  if (hash.toString('hex') !== doc.record.hash) return 'record.hash is not SHA-256(record.body)';
  if (body.readUInt32LE(2) + body.readUInt32LE(6) * 2 ** 32 !== doc.seq) return 'the body carries another seq';
  if (doc.checkpoint.keyId !== key.keyId || !checkpointSignatureValid(doc.checkpoint, key.publicKey)) return 'the checkpoint signature does not verify';
  const ok = verifyInclusion(recordLeafHash(hash), doc.seq - 1, doc.checkpoint.treeSize, doc.auditPath.map((h) => Buffer.from(h, 'hex')), Buffer.from(doc.checkpoint.rootHash, 'hex'));
  return ok ? undefined : 'the audit path does not lead to the signed root';
}

export function checkConsistencyDoc(doc: ConsistencyProofDoc, key: PublicKeyInfo): string | undefined {
  for (const c of [doc.first, doc.second]) {
    if (c.keyId !== key.keyId || !checkpointSignatureValid(c, key.publicKey)) return `checkpoint ${c.treeSize}: signature does not verify`;
  }
  const ok = verifyConsistency(doc.first.treeSize, doc.second.treeSize, Buffer.from(doc.first.rootHash, 'hex'), Buffer.from(doc.second.rootHash, 'hex'), doc.proof.map((h) => Buffer.from(h, 'hex')));
  return ok ? undefined : 'the proof does not show that the second tree extends the first';
}
