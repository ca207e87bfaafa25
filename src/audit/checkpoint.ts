/**
 * Signed checkpoints: "the first N records of this journal have Merkle root R", timestamped and
 * signed with Ed25519. They are appended to <dataDir>/audit/checkpoints.jsonl (one JSON object
 * per line, fsync'd), journaled as a `system.note` input with event `audit.checkpoint`, and
 * archived one object each. The signed bytes are a small text note (docs/audit-format.md):
 *
 *   bulwark-audit-checkpoint/v1\n<origin>\n<tree size>\n<root hex>\n<timestamp ns>\n
 */
import { sign, verify, type KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import { z } from 'zod';
import type { SigningKey } from './keys.js';

export const CHECKPOINT_HEADER = 'bulwark-audit-checkpoint/v1';
export const CHECKPOINT_NOTE_EVENT = 'audit.checkpoint';

export const checkpointSchema = z
  .object({
    version: z.literal(1),
    origin: z.string().min(1).max(256).regex(/^[^\n]+$/, 'must be one line'),
    treeSize: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    rootHash: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
    timestamp: z.string().regex(/^[0-9]{1,19}$/, 'must be epoch nanoseconds as a decimal string'),
    keyId: z.string().regex(/^[0-9a-f]{16}$/, 'must be 16 lowercase hex digits'),
    signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'must be a base64 Ed25519 signature'),
  })
  .strict();

export type Checkpoint = z.infer<typeof checkpointSchema>;

/** The exact bytes that are signed. */
export function checkpointMessage(c: Pick<Checkpoint, 'origin' | 'treeSize' | 'rootHash' | 'timestamp'>): Buffer {
  return Buffer.from(`${CHECKPOINT_HEADER}\n${c.origin}\n${c.treeSize}\n${c.rootHash}\n${c.timestamp}\n`, 'utf8');
}

export function signCheckpoint(fields: { origin: string; treeSize: number; rootHash: Buffer; timestamp: bigint }, key: SigningKey): Checkpoint {
  const body = {
    version: 1 as const,
    origin: fields.origin,
    treeSize: fields.treeSize,
    rootHash: fields.rootHash.toString('hex'),
    timestamp: fields.timestamp.toString(),
  };
  const signature = sign(null, checkpointMessage(body), key.privateKey).toString('base64');
  return checkpointSchema.parse({ ...body, keyId: key.keyId, signature });
}

export function checkpointSignatureValid(c: Checkpoint, publicKey: KeyObject): boolean {
  try {
    return verify(null, checkpointMessage(c), publicKey, Buffer.from(c.signature, 'base64'));
  } catch {
    return false;
  }
}

/** One JSONL line, keys in a fixed order. */
export function checkpointLine(c: Checkpoint): string {
  const { version, origin, treeSize, rootHash, timestamp, keyId, signature } = c;
  return JSON.stringify({ version, origin, treeSize, rootHash, timestamp, keyId, signature }) + '\n';
}

export function parseCheckpoint(value: unknown): Checkpoint | string {
  const r = checkpointSchema.safeParse(value);
  if (r.success) return r.data;
  const i = r.error.issues[0]!;
  return `${i.path.join('.') || '(checkpoint)'}: ${i.message}`;
}

export interface CheckpointFile {
  checkpoints: { line: number; checkpoint: Checkpoint }[];
  /** Lines that are not valid checkpoints (line number, reason). */
  invalid: { line: number; reason: string }[];
  /** Bytes after the last newline: a write cut short by a crash. */
  tornBytes: number;
  /** Length of the valid prefix (everything up to the last newline). */
  goodLength: number;
}

export function readCheckpointFile(file: string): CheckpointFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { checkpoints: [], invalid: [], tornBytes: 0, goodLength: 0 };
    throw e;
  }
  const lastNl = text.lastIndexOf('\n');
  const complete = lastNl < 0 ? '' : text.slice(0, lastNl);
  const torn = text.slice(lastNl + 1);
  const out: CheckpointFile = {
    checkpoints: [],
    invalid: [],
    tornBytes: Buffer.byteLength(torn, 'utf8'),
    goodLength: Buffer.byteLength(text, 'utf8') - Buffer.byteLength(torn, 'utf8'),
  };
  if (complete === '' && lastNl < 0) return out;
  complete.split('\n').forEach((raw, i) => {
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (e) {
      out.invalid.push({ line: i + 1, reason: `not JSON (${(e as Error).message})` });
      return;
    }
    const c = parseCheckpoint(v);
    if (typeof c === 'string') out.invalid.push({ line: i + 1, reason: c });
    else out.checkpoints.push({ line: i + 1, checkpoint: c });
  });
  return out;
}

/** Appends one line and makes it durable before resolving. */
export async function appendCheckpoint(file: string, c: Checkpoint): Promise<void> {
  const fh = await fs.promises.open(file, 'a', 0o644);
  try {
    await fh.write(checkpointLine(c));
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/** Cuts a torn last line (a crash in the middle of an append). Returns the bytes removed. */
export function repairCheckpointFile(file: string): number {
  const f = readCheckpointFile(file);
  if (f.tornBytes === 0) return 0;
  fs.truncateSync(file, f.goodLength);
  return f.tornBytes;
}
