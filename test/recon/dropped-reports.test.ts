/**
 * A whole node trades while its venues lose execution reports; reconciliation finds the fills
 * that never arrived, books them, and afterwards our positions equal the venues' and every venue
 * fill is in our books.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BulwarkNode } from '../../src/engine/node.js';
import { formatDecimal } from '../../src/core/fixed.js';
import { nodeConfig, tempDir } from '../helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('reconciliation against sim venues that drop reports', () => {
  const cleanups: (() => void | Promise<unknown>)[] = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  it('finds and applies the missing fills; positions match the venues afterwards', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const node = await BulwarkNode.start(nodeConfig(t.dir, { database: { enabled: false }, reconciliation: { intervalMs: 3_600_000, onStart: false, stuckAfterMs: 500 } }));
    cleanups.push(() => node.stop('test'));
    for (const v of node.simVenues) v.setFaults({ dropReportProb: 0.25 });
    // trade until some fills were lost on the way
    const k = node.kernel;
    const lost = async () => {
      let n = 0;
      for (const v of node.simVenues) for (const r of await v.executionsSince('FIRM-1', 0n)) if (r.execType === 'trade' && !k.oms.hasSeenExec(v.id, r.execId)) n++;
      return n;
    };
    // (up to 30 s: on a loaded machine the sim venues trade slowly; the loop ends at the third loss)
    for (let i = 0; i < 120 && (await lost()) < 3; i++) await sleep(250);
    expect(await lost()).toBeGreaterThanOrEqual(3);

    // quiet the market (no new trades), let what is in flight land, then reconcile
    for (const v of node.simVenues) {
      v.stopAgents();
      v.setFaults({});
    }
    await sleep(300);
    const report = (await node.reconciler!.run('manual'))!;
    expect(report).not.toBeNull();
    expect(report.counts.missing_fill).toBeGreaterThanOrEqual(3);
    expect(await lost()).toBe(0);

    // every venue position equals ours, per venue, account and symbol
    for (const v of node.simVenues) {
      const venuePos = await v.positions('FIRM-1');
      for (const sym of v.symbols()) {
        expect(formatDecimal(k.recon.ledgerPosition(v.id, 'FIRM-1', sym)), `${v.id} ${sym}`).toBe(venuePos[sym] ?? '0');
      }
    }
    // and the portfolio (all strategies, all venues) holds the venues' total per symbol
    const total = new Map<string, bigint>();
    for (const p of k.portfolio.positions.values()) total.set(p.symbol, (total.get(p.symbol) ?? 0n) + p.quantity);
    const venueTotal = new Map<string, bigint>();
    for (const v of node.simVenues) for (const [sym, q] of Object.entries(await v.positions('FIRM-1'))) venueTotal.set(sym, (venueTotal.get(sym) ?? 0n) + BigInt(Math.round(Number(q) * 1e8)));
    for (const [sym, q] of venueTotal) expect(total.get(sym) ?? 0n, sym).toBe(q);
    // a second run finds nothing left to fix in fills or positions
    const again = (await node.reconciler!.run('manual'))!;
    expect(again.counts.missing_fill).toBe(0);
    expect(again.counts.position_break).toBe(0);
  });
});
