/**
 * Entry point of the audit tree worker thread (see WorkerTree in tree-core.ts): the node's thread
 * sends the record hashes of durable records; this thread hashes them into the Merkle tree,
 * writes the stored subtrees and answers root requests for checkpoints.
 */
import { parentPort } from 'node:worker_threads';
import { TreeCore, type FromTreeWorker, type ToTreeWorker } from './tree-core.js';

const port = parentPort!;
const post = (m: FromTreeWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
let core: TreeCore | null = null;

port.on('message', (m: ToTreeWorker) => {
  void handle(m);
});

async function handle(m: ToTreeWorker): Promise<void> {
  try {
    switch (m.op) {
      case 'init': {
        const r = TreeCore.open(m.options);
        core = r.core;
        post({ op: 'ready', notes: r.notes, size: core.size });
        return;
      }
      case 'append':
        core!.append(m.from, m.hashes);
        return;
      case 'root': {
        const r = await core!.root();
        const root = new Uint8Array(r.root);
        post({ op: 'root', id: m.id, size: r.size, root }, [root.buffer]);
        return;
      }
      case 'close':
        core?.close();
        core = null;
        post({ op: 'closed', id: m.id });
        return;
    }
  } catch (e) {
    post({ op: 'error', message: (e as Error).stack ?? String(e), ...('id' in m ? { id: m.id } : {}) });
  }
}
