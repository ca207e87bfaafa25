/**
 * The simulated venue survives the death of the process it runs in: a venue constructed on the
 * same directory knows the orders, fills (including fills whose reports were never delivered),
 * execution log, positions and counters of the one that died, and refuses a reused clOrdId.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCalendars, buildInstrument } from '../../src/core/instruments.js';
import { ManualClock } from '../../src/core/time.js';
import { SimVenue } from '../../src/venues/sim/sim-venue.js';
import type { ExecutionReportMsg, NewOrderMsg } from '../../src/venues/venue.js';
import { tempDir } from '../helpers.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

const calendars = buildCalendars([]);
const tick = () => new Promise((r) => setImmediate(r));

function open(dir: string, clock: ManualClock): { v: SimVenue; ers: ExecutionReportMsg[] } {
  const instruments = ['AAPL', 'MSFT'].map((symbol) => buildInstrument({ symbol, venue: 'SIMX', tickSize: '0.01', lotSize: '1', currency: 'USD' }, calendars));
  const v = new SimVenue({ id: 'SIMX', instruments, clock, seed: 1, persistDir: dir });
  const ers: ExecutionReportMsg[] = [];
  v.subscribe({ onExecutionReport: (r) => ers.push(r), onMarketData: () => {} });
  return { v, ers };
}

const order = (clOrdId: string, side: 'buy' | 'sell', quantity: string, price: string, account = 'ACC1'): NewOrderMsg => ({ type: 'new', clOrdId, account, symbol: 'AAPL', side, orderType: 'limit', tif: 'GTC', quantity, price, selfTradeGroup: account });

describe('sim venue restart with its own state', () => {
  it('a venue reopened after a crash knows every order, fill and report of the old one', async () => {
    const t = tempDir('bulwark-venue-');
    cleanups.push(t.cleanup);
    const dir = join(t.dir, 'venues', 'SIMX');
    const clock = new ManualClock();
    const a = open(dir, clock);
    a.v.send(order('B1', 'buy', '100', '100.00'));
    a.v.send(order('B2', 'buy', '50', '100.00'));
    a.v.send(order('B3', 'buy', '10', '99.00'));
    a.v.send({ type: 'replace', clOrdId: 'B3R', origClOrdId: 'B3', symbol: 'AAPL', side: 'buy', quantity: '20', price: '99.50' });
    a.v.send(order('X1', 'buy', '5', '101.00', 'ACC2'));
    await tick();
    // the reports of what follows never reach anyone: then the process dies
    a.v.setFaults({ dropReportProb: 1 });
    a.v.submitHouseOrder('AAPL', { owner: 'house:noise', side: 'sell', type: 'limit', tif: 'IOC', qty: 130_00000000n, price: 100_00000000n });
    a.v.send({ type: 'cancel', clOrdId: 'X1C', origClOrdId: 'X1', symbol: 'AAPL', side: 'buy' });
    await tick();
    const before = {
      open: await a.v.openOrders('ACC1'),
      pos: await a.v.positions('ACC1'),
      pos2: await a.v.positions('ACC2'),
      log: await a.v.executionsSince('ACC1', 0n),
      log2: await a.v.executionsSince('ACC2', 0n),
      book: a.v.book('AAPL').depth('buy'),
    };
    expect(before.pos.AAPL).toBe('125');
    expect(before.log.filter((r) => r.execType === 'trade').length).toBe(2);
    // no stop(): the process is gone, only what reached the disk counts

    const b = open(dir, clock);
    const strip = (rs: ExecutionReportMsg[]) => rs.map((r) => ({ ...r, execId: '', venueTs: '' }));
    expect(strip(await b.v.openOrders('ACC1'))).toEqual(strip(before.open));
    expect(await b.v.positions('ACC1')).toEqual(before.pos);
    expect(await b.v.positions('ACC2')).toEqual(before.pos2);
    expect(await b.v.executionsSince('ACC1', 0n)).toEqual(before.log);
    expect(await b.v.executionsSince('ACC2', 0n)).toEqual(before.log2);
    expect(b.v.book('AAPL').depth('buy')).toEqual(before.book);
    // the resting orders are back in the same queue order with the same open quantities
    expect(b.v.book('AAPL').levelOrders('buy', 100_00000000n).map((o) => [o.id, o.leaves])).toEqual(a.v.book('AAPL').levelOrders('buy', 100_00000000n).map((o) => [o.id, o.leaves]));

    // a reused clOrdId is refused and remembered; execution ids continue after the old ones
    b.v.send(order('B1', 'buy', '1', '90.00'));
    b.v.send({ type: 'status', clOrdId: 'B3R', symbol: 'AAPL' });
    await tick();
    const dup = b.ers.find((r) => r.clOrdId === 'B1')!;
    expect(dup.reason).toBe('DUPLICATE_CLORDID');
    expect(b.v.duplicateClOrdIds).toEqual(['B1']);
    const status = b.ers.find((r) => r.execType === 'orderStatus')!;
    expect(status.ordStatus).toBe('New');
    expect(status.orderQty).toBe('20');
    const oldIds = new Set([...before.log, ...before.log2].map((r) => r.execId));
    for (const r of b.ers) expect(oldIds.has(r.execId)).toBe(false);
    const maxOld = Math.max(...[...oldIds].map((id) => Number(id.split('-X')[1])));
    expect(Number(dup.execId.split('-X')[1])).toBeGreaterThan(maxOld);

    // restarted trading continues on the restored book: B2's remainder trades
    b.v.submitHouseOrder('AAPL', { owner: 'house:noise', side: 'sell', type: 'market', tif: 'IOC', qty: 20_00000000n });
    await tick();
    expect(await b.v.positions('ACC1')).toEqual({ AAPL: '145' });
    b.v.stop();

    // the log was compacted at open: one state line, then what happened since
    const lines = readFileSync(join(dir, 'venue.log'), 'utf8').trim().split('\n');
    expect(JSON.parse(lines[0]!).t).toBe('S');
    const c = open(dir, clock);
    expect(await c.v.positions('ACC1')).toEqual({ AAPL: '145' });
    expect(c.v.duplicateClOrdIds).toEqual(['B1']);
    c.v.stop();
  });
});
