/**
 * Snapshot files under `<dataDir>/snapshots/`: one file per snapshot, named by the journal
 * sequence it reflects (`snap-<seq, 20 digits>.snap`), written atomically (temp file, fsync,
 * rename, fsync of the directory) so a crash leaves either the whole file or none of it.
 *
 * File format (docs/recovery.md): one header line of JSON, then the body (the kernel snapshot
 * document, JSON). The header carries the SHA-256 of the body; a file whose body does not match
 * it, or whose header does not parse, is not a snapshot and recovery skips it.
 *
 *   {"format":"bulwark-snapshot","version":1,"seq":N,"inputSeq":I,"journalHash":"<hex>", ... ,"sha256":"<hex>","bytes":B}\n
 *   {"format":"bulwark.kernel", ... }
 *
 * The last `keep` snapshots stay; older ones are removed after each write. A copy goes to every
 * registered SnapshotSink (a database, an object store) — best effort: a sink failure is logged
 * and never fails the local write.
 */
import { webcrypto } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';

export const SNAPSHOT_FORMAT = 'bulwark-snapshot';
export const SNAPSHOT_FILE_VERSION = 1;
const NAME_RE = /^snap-(\d{20})\.snap$/;

export interface SnapshotHeader {
  format: typeof SNAPSHOT_FORMAT;
  version: number;
  /** last journal record the state reflects: replay continues at seq + 1 */
  seq: number;
  /** last input the state reflects */
  inputSeq: number;
  /** SHA-256 (hex) of journal record `seq`: ties the snapshot to this journal */
  journalHash: string;
  /** journal stamp of the last input (ns) */
  ts: string;
  nodeId: string;
  /** wall-clock time the snapshot was taken (ISO), for operators */
  createdAt: string;
  openOrders: number;
  bytes: number;
  /** SHA-256 (hex) of the body */
  sha256: string;
}

/** Somewhere else a copy of each snapshot goes (the database, an object store). */
export interface SnapshotSink {
  readonly name: string;
  put(header: SnapshotHeader, body: Buffer): Promise<void>;
}

export interface SnapshotFile {
  name: string;
  path: string;
  seq: number;
}

export interface LoadedSnapshot {
  file: SnapshotFile;
  header: SnapshotHeader;
  body: Buffer;
}

export function snapshotFileName(seq: number): string {
  return `snap-${String(seq).padStart(20, '0')}.snap`;
}

/** SHA-256 on the libuv thread pool (WebCrypto), so hashing megabytes does not stall the core. */
export async function sha256HexAsync(data: Buffer): Promise<string> {
  const d = await webcrypto.subtle.digest('SHA-256', data);
  return Buffer.from(d).toString('hex');
}

export class SnapshotStore {
  readonly sinks: SnapshotSink[] = [];

  constructor(
    readonly dir: string,
    readonly keep: number,
    private readonly opts: { fsync?: boolean; log?: (msg: string, data?: Record<string, unknown>) => void } = {},
  ) {
    if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`snapshots.keep: ${keep} must be a positive integer`);
  }

  /** Snapshot files, newest first. */
  list(): SnapshotFile[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: SnapshotFile[] = [];
    for (const name of names) {
      const m = NAME_RE.exec(name);
      if (m) out.push({ name, path: join(this.dir, name), seq: Number(m[1]) });
    }
    return out.sort((a, b) => b.seq - a.seq);
  }

  /**
   * Writes one snapshot. The body is hashed off the main thread; the file is durable and in place
   * when the promise resolves.
   */
  async write(meta: Omit<SnapshotHeader, 'format' | 'version' | 'bytes' | 'sha256'>, body: Buffer): Promise<{ header: SnapshotHeader; path: string }> {
    const sha256 = await sha256HexAsync(body);
    const header: SnapshotHeader = { format: SNAPSHOT_FORMAT, version: SNAPSHOT_FILE_VERSION, ...meta, bytes: body.length, sha256 };
    await fsp.mkdir(this.dir, { recursive: true });
    const name = snapshotFileName(meta.seq);
    const path = join(this.dir, name);
    const tmp = path + '.tmp';
    const fh = await fsp.open(tmp, 'w', 0o644);
    try {
      await fh.writev([Buffer.from(JSON.stringify(header) + '\n'), body]);
      if (this.opts.fsync !== false) await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, path);
    if (this.opts.fsync !== false) await fsyncDir(this.dir);
    await this.prune();
    for (const s of this.sinks) {
      s.put(header, body).catch((e: unknown) => this.opts.log?.('snapshot sink failed', { sink: s.name, seq: meta.seq, error: String(e) }));
    }
    return { header, path };
  }

  /** Keeps the newest `keep` snapshots; removes older ones and stray temp files. */
  async prune(): Promise<void> {
    const files = this.list();
    for (const f of files.slice(this.keep)) await fsp.rm(f.path, { force: true });
    for (const name of await fsp.readdir(this.dir)) if (name.endsWith('.snap.tmp')) await fsp.rm(join(this.dir, name), { force: true });
  }

  /** Reads and verifies one file (header parses, body length and SHA-256 match); throws with the reason. */
  static load(file: SnapshotFile, hash: (b: Buffer) => string): LoadedSnapshot {
    const buf = readFileSync(file.path);
    const nl = buf.indexOf(0x0a);
    if (nl < 0) throw new Error('no header line');
    let header: SnapshotHeader;
    try {
      header = JSON.parse(buf.subarray(0, nl).toString('utf8')) as SnapshotHeader;
    } catch {
      throw new Error('header is not JSON');
    }
    if (header.format !== SNAPSHOT_FORMAT || header.version !== SNAPSHOT_FILE_VERSION) throw new Error(`unsupported format ${String(header.format)} v${String(header.version)}`);
    if (header.seq !== file.seq) throw new Error(`header seq ${header.seq} does not match the file name`);
    const body = buf.subarray(nl + 1);
    if (body.length !== header.bytes) throw new Error(`body is ${body.length} bytes, header says ${header.bytes}`);
    if (hash(body) !== header.sha256) throw new Error('checksum mismatch: the body is not what was written');
    return { file, header, body };
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
