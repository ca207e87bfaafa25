import { afterEach, describe, expect, it } from 'vitest';
import { readdirSync, statSync, truncateSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { BulwarkNode } from '../../src/engine/node.js';
import { replayJournal } from '../../src/engine/replay.js';
import { nodeConfig, tempDir } from '../helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('node: journal-first, deterministic', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    while (cleanups.length) cleanups.pop()!();
  });

  it('a replay of the journal reproduces the digest of a node that traded for several seconds', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const node = await BulwarkNode.start(nodeConfig(t.dir));
    await sleep(4000);
    const fillsWhileTrading = node.kernel.oms.fills.length;
    const ordersWhileTrading = node.kernel.oms.orders.size;
    const r = await node.stop('test');
    expect(ordersWhileTrading).toBeGreaterThan(10);
    expect(fillsWhileTrading).toBeGreaterThan(0);
    expect(r.openOrders).toBe(0);
    const replay = replayJournal(join(t.dir, 'journal'));
    expect(replay.lastSeq).toBe(r.lastSeq);
    expect(replay.digest).toBe(r.digest);
    // and a node restarted on the same data recovers the same state before it trades again
    const again = await BulwarkNode.start(nodeConfig(t.dir), { startAgents: false });
    expect(again.recovered.records).toBe(replay.inputs);
    const r2 = await again.stop('test');
    expect(replayJournal(join(t.dir, 'journal')).digest).toBe(r2.digest);
  });

  it('detects a torn journal tail at start, drops only the torn record and records the repair', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const node = await BulwarkNode.start(nodeConfig(t.dir));
    await sleep(500);
    const r = await node.stop('test');
    const jdir = join(t.dir, 'journal');
    const last = readdirSync(jdir).filter((f) => f.endsWith('.seg')).sort().at(-1)!;
    const file = join(jdir, last);
    chmodSync(file, 0o644);
    truncateSync(file, statSync(file).size - 3); // a crash in the middle of the last write
    const again = await BulwarkNode.start(nodeConfig(t.dir), { startAgents: false });
    expect(again.recovered.repaired).not.toBeNull();
    expect(again.recovered.repaired!.seq).toBe(r.lastSeq);
    const notes = [...(await import('../../src/engine/journal.js')).Journal.read(jdir)]
      .filter((e) => e.kind === 'input' && e.payload.type === 'system.note' && (e.payload as { event?: string }).event === 'journal.repaired');
    await again.stop('test');
    expect(notes.length).toBe(1);
  });
});
