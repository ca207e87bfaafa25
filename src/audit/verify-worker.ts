/**
 * The chain check of `bulwark audit verify` (verifyJournal: every segment header, record checksum,
 * seq and SHA-256 link) on a thread of its own, so that it runs beside the pass that rebuilds the
 * Merkle tree (src/audit/verify.ts). Posts the verdict once and ends.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { verifyJournal } from '../engine/journal.js';

const { journalDir } = workerData as { journalDir: string };
parentPort!.postMessage(verifyJournal(journalDir));
