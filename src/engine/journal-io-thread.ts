/**
 * The journal's I/O thread: one worker thread per process that writes and syncs group commits,
 * so that a batch becomes durable without the core's thread having to run in between.
 *
 * Through libuv's pool, a batch takes two trips through the core thread's event loop: the
 * `writev` completes, its callback runs on the core thread and starts the `fdatasync`, whose
 * callback runs there again. When the core thread is busy (a scavenge of 1-2.5 ms, a burst of
 * orders), the records waiting in that batch wait for it too. Here the core thread hands the
 * batch over once (a postMessage of views on shared memory: no copy) and the thread runs
 * `pwritev` and `fdatasync` back to back. Whatever queued up while it was syncing is written
 * together and synced once (a second level of group commit), and each batch's result carries the
 * `process.hrtime` moment its sync returned, which is when its records became durable, whatever
 * the core thread was doing then.
 *
 * Failure: once a write or sync of a stream (one journal) fails, every later batch of that stream
 * is refused without being written (after a failed fsync the kernel may have dropped dirty pages;
 * the journal stops, see Journal.onError). Batches of other streams go on.
 *
 * The worker's source is a plain JavaScript string run with `eval: true`: a dozen lines of
 * syscalls, started in a few milliseconds from the build and from TypeScript sources alike.
 */
import { Worker } from 'node:worker_threads';

/** What one handed-over batch did, as the I/O thread saw it. */
export interface ThreadWriteResult {
  /** process.hrtime.bigint() right after the batch's fdatasync returned (after its write without sync). */
  at: bigint;
  bytes: number;
  writes: number;
  /** 1 when this batch's group ended with the fdatasync that covered it, else 0 (the sync is counted once). */
  syncs: number;
}

interface WireResult {
  id: number;
  at?: bigint;
  bytes?: number;
  writes?: number;
  syncs?: number;
  error?: { message: string; code?: string; syscall?: string };
}

interface WireOp {
  id: number;
  stream: number;
  fd: number;
  position: number;
  sync: boolean;
  slices: Uint8Array[];
}

const WORKER_SOURCE = String.raw`
'use strict';
const { parentPort, receiveMessageOnPort } = require('node:worker_threads');
const fs = require('node:fs');
const IOV_MAX = 1024;
const failed = new Map();
function errorOf(e) {
  return { message: e && e.message ? e.message : String(e), code: e && e.code, syscall: e && e.syscall };
}
// Journal.writeFully's loop (IOV_MAX buffers a call, short writes resumed), on this thread.
function writeAll(fd, slices, position) {
  let pending = slices;
  let pos = position;
  let bytes = 0;
  let writes = 0;
  while (pending.length > 0) {
    const batch = pending.length > IOV_MAX ? pending.slice(0, IOV_MAX) : pending;
    const n = fs.writevSync(fd, batch, pos);
    writes++;
    if (!(n > 0)) throw new Error('writev wrote ' + n + ' bytes at position ' + pos);
    pos += n;
    bytes += n;
    let i = 0;
    let left = n;
    while (i < pending.length && left >= pending[i].length) left -= pending[i++].length;
    pending = pending.slice(i);
    if (left > 0) pending[0] = pending[0].subarray(left);
  }
  return { bytes, writes };
}
function run(first) {
  const ops = [first];
  for (let m; (m = receiveMessageOnPort(parentPort)) !== undefined; ) ops.push(m.message);
  const results = new Array(ops.length);
  const syncs = new Map();
  for (let k = 0; k < ops.length; k++) {
    const op = ops[k];
    const bad = failed.get(op.stream);
    if (bad !== undefined) {
      results[k] = { id: op.id, error: bad };
      continue;
    }
    try {
      const w = writeAll(op.fd, op.slices, op.position);
      results[k] = { id: op.id, bytes: w.bytes, writes: w.writes, syncs: 0, at: undefined };
      if (op.sync) {
        let s = syncs.get(op.fd);
        if (s === undefined) syncs.set(op.fd, (s = { stream: op.stream, ks: [] }));
        s.ks.push(k);
      } else {
        results[k].at = process.hrtime.bigint();
      }
    } catch (e) {
      const err = errorOf(e);
      failed.set(op.stream, err);
      results[k] = { id: op.id, error: err };
    }
  }
  for (const [fd, s] of syncs) {
    try {
      fs.fdatasyncSync(fd);
      const at = process.hrtime.bigint();
      for (const k of s.ks) results[k].at = at;
      results[s.ks[s.ks.length - 1]].syncs = 1;
    } catch (e) {
      const err = errorOf(e);
      failed.set(s.stream, err);
      for (const k of s.ks) results[k] = { id: ops[k].id, error: err };
    }
  }
  parentPort.postMessage(results);
}
parentPort.on('message', run);
`;

interface Pending {
  resolve: (r: ThreadWriteResult) => void;
  reject: (e: Error) => void;
}

function errorFromWire(e: NonNullable<WireResult['error']>): Error {
  const err = new Error(e.message) as NodeJS.ErrnoException;
  if (e.code !== undefined) err.code = e.code;
  if (e.syscall !== undefined) err.syscall = e.syscall;
  return err;
}

/** A view on shared memory (posted without a copy); anything else is copied into one. */
function shared(b: Uint8Array): Uint8Array {
  if (b.buffer instanceof SharedArrayBuffer) return b;
  const s = new Uint8Array(new SharedArrayBuffer(b.length));
  s.set(b);
  return s;
}

class JournalIoThread {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  write(stream: number, fd: number, buffers: readonly Uint8Array[], position: number, sync: boolean): Promise<ThreadWriteResult> {
    const worker = this.start();
    const op: WireOp = { id: this.nextId++, stream, fd, position, sync, slices: buffers.map(shared) };
    return new Promise<ThreadWriteResult>((resolve, reject) => {
      // Kept alive while a request is out, so the process cannot exit with a write unreported.
      if (this.pending.size === 0) worker.ref();
      this.pending.set(op.id, { resolve, reject });
      worker.postMessage(op);
    });
  }

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      name: 'bulwark journal I/O',
      resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4 },
    });
    worker.on('message', (results: WireResult[]) => {
      for (const r of results) {
        const p = this.pending.get(r.id);
        if (p === undefined) continue;
        this.pending.delete(r.id);
        if (r.error !== undefined) p.reject(errorFromWire(r.error));
        else p.resolve({ at: r.at!, bytes: r.bytes!, writes: r.writes!, syncs: r.syncs! });
      }
      if (this.pending.size === 0) worker.unref();
    });
    const lost = (cause: Error): void => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const pending = [...this.pending.values()];
      this.pending.clear();
      for (const p of pending) p.reject(cause);
    };
    worker.on('error', (e) => lost(new Error(`journal I/O thread failed: ${e.message}`, { cause: e })));
    worker.on('exit', (code) => lost(new Error(`journal I/O thread exited (code ${code})`)));
    worker.unref();
    this.worker = worker;
    return worker;
  }
}

let thread: JournalIoThread | undefined;

/** Hands one batch to the process's journal I/O thread (started on first use). */
export function writeOnIoThread(
  stream: number,
  fd: number,
  buffers: readonly Uint8Array[],
  position: number,
  sync: boolean,
): Promise<ThreadWriteResult> {
  thread ??= new JournalIoThread();
  return thread.write(stream, fd, buffers, position, sync);
}

