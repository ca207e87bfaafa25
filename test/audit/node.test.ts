/**
 * End to end: a whole node trades for a few seconds, is queried through GET /audit, stops, and
 * `bulwark audit verify` finds the record complete and intact — journal, Merkle checkpoints and the
 * database projection — holding orders, fills, a risk rejection with who/where, strategy starts,
 * refused API access and the shutdown. Then a crash-torn tail: verify fails on it, the next start
 * repairs it and journals the repair, and verify passes again.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { UserDirectory } from '../../src/api/auth.js';
import { checkInclusionDoc, type InclusionProofDoc } from '../../src/audit/prove.js';
import { parsePublicKey } from '../../src/audit/keys.js';
import { verifyAudit, type AuditReport } from '../../src/audit/verify.js';
import { Journal, type JournalEntry } from '../../src/engine/journal.js';
import { BulwarkNode } from '../../src/engine/node.js';
import type { AuditRecordView } from '../../src/audit/records.js';
import { nodeConfig, tempDir } from '../helpers.js';
import { runAuditCli } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TRADE_MS = 8000;

const cli = (args: string[]) => runAuditCli(args);

const t = tempDir('bulwark-audit-node-');
const journalDir = path.join(t.dir, 'journal');
let records: JournalEntry[] = [];
let stopLastSeq = 0;
let report: AuditReport;
const api: Record<string, { status: number; body: unknown }> = {};
let rejectedId = '';
let proof: InclusionProofDoc | undefined;
let publicPem = '';

const cfg = () => nodeConfig(t.dir, { audit: { checkpoint: { everyRecords: 5000, everySeconds: 2 } } });

beforeAll(async () => {
  const node = await BulwarkNode.start(cfg());
  const app = await buildApi({ node, users: UserDirectory.forEnvironment('dev', []) });
  try {
    await sleep(1500); // market data first, so the risk chain has reference prices
    const rejected = await app.inject({
      method: 'POST',
      url: '/orders',
      headers: { authorization: 'Bearer dev-trader' },
      payload: { symbol: 'AAPL', venue: 'SIMX', side: 'buy', type: 'limit', quantity: '20000', price: '227.50', clientOrderId: 'too-big-1', account: 'FIRM-1' },
    });
    api.reject = { status: rejected.statusCode, body: rejected.json() };
    rejectedId = (rejected.json() as { id: string }).id;
    await sleep(TRADE_MS - 1500);
    const get = async (name: string, url: string, token?: string) => {
      const r = await app.inject({ method: 'GET', url, ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
      api[name] = { status: r.statusCode, body: r.json() };
    };
    await get('anonymous', '/audit');
    await get('trader', '/audit', 'dev-trader');
    await get('rejections', '/audit?type=order.rejected', 'dev-compliance');
    await get('byOrder', `/audit?orderId=${rejectedId}`, 'dev-compliance');
    await get('byActor', '/audit?actor=dev-trader&type=cmd.*', 'dev-admin');
    await get('page1', '/audit?limit=5', 'dev-compliance');
    const cursor = (api.page1!.body as { nextCursor: number }).nextCursor;
    await get('page2', `/audit?limit=5&cursor=${cursor}`, 'dev-compliance');
    await get('badLimit', '/audit?limit=0', 'dev-compliance');
    await get('badFrom', '/audit?from=yesterday', 'dev-compliance');
    await get('invertedSeqs', '/audit?from=50&to=10', 'dev-compliance');
    await get('invertedTimes', '/audit?from=2026-11-28T10:00:00Z&to=2026-11-28T09:00:00Z', 'dev-compliance');
    const now = new Date().toISOString();
    await get('future', `/audit?from=${encodeURIComponent(now.slice(0, 4) + '-12-31T23:59:59Z')}`, 'dev-compliance');
    await get('checkpoints', '/audit/checkpoints', 'dev-compliance');
    const latest = (api.checkpoints!.body as { latest: { treeSize: number } | null }).latest;
    if (latest !== null) {
      const r = await app.inject({ method: 'GET', url: `/audit/proof/${Math.max(1, latest.treeSize - 3)}`, headers: { authorization: 'Bearer dev-compliance' } });
      api.proof = { status: r.statusCode, body: r.json() };
      proof = r.json() as InclusionProofDoc;
    }
    publicPem = node.audit!.key.publicPem;
  } finally {
    const r = await node.stop('test shutdown');
    stopLastSeq = r.lastSeq;
    await app.close();
  }
  records = [...Journal.read(journalDir)];
  report = await verifyAudit({ dataDir: t.dir, env: {} });
});

afterAll(() => t.cleanup());

const notes = (event: string) => records.filter((e) => e.kind === 'input' && e.payload.type === 'system.note' && e.payload.event === event);
const ofType = (type: string) => records.filter((e) => e.payload.type === type);

describe('a node that traded, then stopped', () => {
  it('verifies: chain, Merkle tree, signed checkpoints, database rows', () => {
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.journal.lastSeq).toBe(stopLastSeq);
    expect(report.checkpoints.verified).toBeGreaterThanOrEqual(3);
    // the final checkpoint at shutdown covers everything but its own note
    expect(report.checkpoints.latest!.treeSize).toBe(stopLastSeq - 2);
    expect(report.database).not.toBeNull();
    expect(report.database!.compared).toBeGreaterThan(0);
  });

  it('holds orders, fills, the risk rejection with who and from where, strategy starts and the shutdown', () => {
    expect(api.reject!.status).toBe(422);
    expect(ofType('order.created').length).toBeGreaterThan(10);
    expect(ofType('fill').length).toBeGreaterThan(0);
    const rejection = ofType('order.rejected').find((e) => (e.payload.order as { id: string }).id === rejectedId)!;
    expect(rejection.payload.reason).toBe('MAX_ORDER_QTY');
    expect(rejection.payload.actor).toMatchObject({ id: 'dev-trader', role: 'trader', channel: 'api', address: '127.0.0.1' });
    const starts = ofType('strategy.state').filter((e) => e.payload.to === 'running');
    expect(starts.length).toBeGreaterThanOrEqual(4);
    expect(ofType('system.start').length).toBe(1);
    expect(ofType('system.started').length).toBe(1);
    expect(ofType('system.stop')[0]!.payload.reason).toBe('test shutdown');
    expect(ofType('system.stopping').length).toBe(1);
    expect(notes('node.stopped').length).toBe(1);
    expect(notes('audit.key').length).toBe(1);
    expect(notes('audit.checkpoint').length).toBe(report.checkpoints.total);
    // refused API calls are on record with the caller's address
    const denied = notes('api.denied');
    expect(denied.map((e) => (e.payload.detail as { status: number }).status).sort()).toEqual([401, 403]);
    expect((denied[0]!.payload.detail as { address: string }).address).toBe('127.0.0.1');
  });

  it('GET /audit: compliance and admin only, filtered, paged', () => {
    expect(api.anonymous!.status).toBe(401);
    expect(api.trader!.status).toBe(403);
    const rej = api.rejections!.body as { records: AuditRecordView[] };
    expect(api.rejections!.status).toBe(200);
    expect(rej.records.length).toBeGreaterThan(0);
    expect(rej.records.every((r) => r.type === 'order.rejected')).toBe(true);
    const byOrder = (api.byOrder!.body as { records: AuditRecordView[] }).records;
    expect(byOrder.map((r) => r.type)).toContain('order.rejected');
    expect(byOrder.every((r) => JSON.stringify(r.payload).includes(rejectedId))).toBe(true);
    const byActor = (api.byActor!.body as { records: AuditRecordView[] }).records;
    expect(byActor.length).toBeGreaterThan(0);
    expect(byActor.every((r) => r.actor?.id === 'dev-trader' && r.type.startsWith('cmd.'))).toBe(true);
    const p1 = api.page1!.body as { records: AuditRecordView[]; nextCursor: number };
    const p2 = api.page2!.body as { records: AuditRecordView[] };
    expect(p1.records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(p2.records.map((r) => r.seq)).toEqual([6, 7, 8, 9, 10]);
    // the pages chain: each record's prevHash is the one before's hash
    expect(p2.records[0]!.prevHash).toBe(p1.records[4]!.hash);
    expect(api.badLimit!.status).toBe(400);
    expect(api.badFrom!.status).toBe(400);
    // a range that ends before it starts is a mistake named, not an empty page
    expect(api.invertedSeqs).toEqual({ status: 400, body: { error: 'bad_request', field: 'to', message: 'to: seq 10 is before the start of the range (seq 50)' } });
    expect(api.invertedTimes!.status).toBe(400);
    expect(api.invertedTimes!.body).toMatchObject({ field: 'to', message: expect.stringMatching(/^to: 2026-11-28T09:00:00\.000000000Z is before the start of the range \(2026-11-28T10:00:00\.000000000Z\)$/) });
    expect((api.future!.body as { records: unknown[] }).records).toEqual([]);
  });

  it('GET /audit/proof gives an inclusion proof that checks against the signed checkpoint', () => {
    expect(api.proof!.status).toBe(200);
    expect(checkInclusionDoc(proof!, parsePublicKey(publicPem, 'node key'))).toBeUndefined();
  });

  it('bulwark audit verify / prove / export work on the stopped node', async () => {
    const v = await cli(['audit', 'verify', '-d', t.dir]);
    expect(v.code).toBe(0);
    expect(v.out).toMatch(/^OK: the audit trail is intact/m);
    const p = await cli(['audit', 'prove', '42', '-d', t.dir]);
    const doc = JSON.parse(p.out) as InclusionProofDoc;
    expect(doc.seq).toBe(42);
    expect(checkInclusionDoc(doc, parsePublicKey(publicPem, 'node key'))).toBeUndefined();
    const csv = await cli(['audit', 'export', '-d', t.dir, '--from', '1', '--to', '50', '--format', 'csv']);
    expect(csv.out.trimEnd().split('\r\n').length).toBe(51);
    await expect(cli(['audit', 'export', '-d', t.dir, '--from', '50', '--to', '1'])).rejects.toThrow(/--to: seq 1 is before the start of the range \(seq 50\)/);
    // --out: written once, never overwritten; a path that cannot be written is named; a failed export leaves no file
    const outFile = path.join(t.dir, 'export.jsonl');
    const toFile = await cli(['audit', 'export', '-d', t.dir, '--from', '1', '--to', '5', '--out', outFile]);
    expect(toFile.out).toBe('');
    expect(fs.readFileSync(outFile, 'utf8').trimEnd().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([1, 2, 3, 4, 5]);
    await expect(cli(['audit', 'export', '-d', t.dir, '--out', outFile])).rejects.toThrow(/--out .*export\.jsonl: exists already/);
    await expect(cli(['audit', 'export', '-d', t.dir, '--out', path.join(t.dir, 'no', 'such', 'dir.jsonl')])).rejects.toThrow(/--out .*dir\.jsonl: ENOENT/);
    const failed = path.join(t.dir, 'failed.jsonl');
    await expect(cli(['audit', 'export', '-d', t.dir, '--from', '50', '--to', '1', '--out', failed])).rejects.toThrow(/--to/);
    expect(fs.existsSync(failed)).toBe(false);
    // a key file that is not a key is a bad argument, not a failed verification
    const badKey = cli(['audit', 'verify', '-d', t.dir, '--public-key', outFile]);
    await expect(badKey).rejects.toThrow(/--public-key .*: not an Ed25519 public key/);
    await expect(badKey).rejects.toBeInstanceOf(InvalidArgumentError);
    const pk = await cli(['audit', 'pubkey', '-d', t.dir]);
    expect(pk.out).toBe(publicPem);
  });
});

describe('a crash-torn tail', () => {
  it('fails verify, is repaired at the next start with the repair journaled, and then verifies', async () => {
    const segs = fs.readdirSync(journalDir).filter((n) => n.endsWith('.seg')).sort();
    const last = path.join(journalDir, segs[segs.length - 1]!);
    fs.chmodSync(last, 0o644);
    // half a record: what a crash in the middle of a write leaves
    fs.appendFileSync(last, Buffer.from([0x80, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 1, 0]));
    const torn = await cli(['audit', 'verify', '-d', t.dir, '--no-db']);
    expect(torn.code).toBe(1);
    expect(torn.out).toMatch(new RegExp(`firstBadSeq ${stopLastSeq + 1}\\b`));

    const node = await BulwarkNode.start(cfg(), { startAgents: false });
    expect(node.recovered.repaired).not.toBeNull();
    expect(node.recovered.repaired!.seq).toBe(stopLastSeq + 1);
    await node.stop('after repair');

    const r = await verifyAudit({ dataDir: t.dir, env: {} });
    expect(r.problems).toEqual([]);
    expect(r.repairs.length).toBe(1);
    expect(r.repairs[0]!.detail.seq).toBe(stopLastSeq + 1);
    const after = [...Journal.read(journalDir)];
    // nothing acknowledged was lost: every record before the torn bytes is still there, unchanged
    expect(after.slice(0, stopLastSeq).map((e) => e.hash.toString('hex'))).toEqual(records.map((e) => e.hash.toString('hex')));
    expect(after.some((e) => e.payload.type === 'system.note' && e.payload.event === 'journal.repaired')).toBe(true);
    expect(after.some((e) => e.payload.type === 'system.note' && e.payload.event === 'node.recovered')).toBe(true);
  });
});
