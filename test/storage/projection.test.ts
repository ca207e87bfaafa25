import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JournalEntry, JournalKind, JournalPayload } from '../../src/engine/journal.js';
import { BatchBuilder, batchRowCount, bucketStart, IsoFormatter, nsToIso, ProjectionState, ZERO_HASH_HEX } from '../../src/storage/projection.js';
import { auditRowsOf, textRowsOf } from './audit-copy.js';

const H = 3_600_000_000_000n;
/** 2026-01-01T00:00:00Z */
const T0 = 1_767_225_600_000_000_000n;

function entry(seq: number, ts: bigint, kind: JournalKind, payload: JournalPayload): JournalEntry {
  return { seq, ts, kind, payload, hash: Buffer.alloc(32, seq % 256) };
}

function position(strategyId: string | null, symbol: string, quantity: string, costBasis: string, realizedPnl: string, fees: string, mark: string | null) {
  return {
    type: 'position',
    position: {
      account: 'A1',
      strategyId,
      symbol,
      quantity,
      averagePrice: null,
      costBasis,
      realizedPnl,
      unrealizedPnl: null,
      markPrice: mark,
      fees,
      boughtQuantity: '0',
      soldQuantity: '0',
    },
  };
}

function quote(symbol: string, bid: string, ask: string) {
  return { type: 'md.quote', m: { type: 'quote', venue: 'X', symbol, feedSeq: 1, bid, bidSize: '1', ask, askSize: '1', venueTs: '1' } };
}

describe('time helpers', () => {
  it('formats nanoseconds as ISO timestamps with microseconds', () => {
    expect(nsToIso(T0)).toBe('2026-01-01T00:00:00.000000Z');
    expect(nsToIso(T0 + 1_234_567_891n)).toBe('2026-01-01T00:00:01.234567Z');
    expect(nsToIso(0n)).toBe('1970-01-01T00:00:00.000000Z');
  });

  it('IsoFormatter gives what nsToIso gives, over a stream of times near and far apart', () => {
    const I64_MAX = 2n ** 63n - 1n;
    const fast = BigInt(Number.MAX_SAFE_INTEGER) * 1000n;
    // a stream: jumps anywhere in i64 (both sides of the fast path's edges), repeats, and small
    // steps that stay in, or just leave, the millisecond the formatter has cached
    const anywhere = fc.oneof(
      fc.bigInt({ min: -I64_MAX - 1n, max: I64_MAX }),
      fc.bigInt({ min: fast - 5_000_000n, max: fast + 5_000_000n }),
      fc.bigInt({ min: -5_000_000n, max: 5_000_000n }),
    );
    // 0: the same time again (the formatter returns its last result then)
    const step = fc.oneof(fc.constant(0n), fc.bigInt({ min: -2_000_000n, max: 2_000_000n }));
    fc.assert(
      fc.property(anywhere, fc.array(fc.oneof(step, anywhere.map((v) => ({ to: v }))), { maxLength: 40 }), (first, moves) => {
        const f = new IsoFormatter();
        let ns = first;
        expect(f.format(ns)).toBe(nsToIso(ns));
        for (const m of moves) {
          const next = typeof m === 'bigint' ? ns + m : m.to;
          if (next < -I64_MAX - 1n || next > I64_MAX) continue;
          ns = next;
          expect(f.format(ns)).toBe(nsToIso(ns));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('finds hour and day buckets', () => {
    expect(bucketStart(T0 + H + 5n, 'hour')).toBe(T0 + H);
    expect(bucketStart(T0 + 25n * H, 'day')).toBe(T0 + 24n * H);
  });
});

describe('batch builder', () => {
  it('chains prev_hash through the batch and keeps the last state of each order', () => {
    const b = new BatchBuilder(new ProjectionState(), 5, 'ab'.repeat(32));
    const order = (status: string, ts: string) => ({
      id: 'O1', clOrdId: 'O1', clientOrderId: 'c1', account: 'A1', strategyId: 's1', traderId: null, symbol: 'AAPL', venue: 'X', side: 'buy',
      type: 'limit', timeInForce: 'DAY', quantity: '10', price: '100.5', status, filledQuantity: '0', leavesQuantity: '10', averagePrice: null,
      fees: '0', venueOrderId: null, rejectReason: null, rejectDetail: null, replacesId: null, replacedById: null, uncertain: false, createdTs: '1767225600000000000', updatedTs: ts,
    });
    b.add(entry(5, T0, 'event', { type: 'order.created', order: order('PendingNew', '1767225600000000000'), actor: { id: 's1', channel: 'strategy' } }));
    b.add(entry(6, T0 + 1n, 'event', { type: 'order.updated', order: order('Canceled', '1767225600000000001'), from: 'New', cause: 'x' }));
    b.add(entry(7, T0 + 2n, 'event', { type: 'order.cancelRequested', orderId: 'O1', actor: { id: 'u1', channel: 'api' } }));
    const batch = b.finish();
    expect(batch.fromSeq).toBe(5);
    expect(batch.toSeq).toBe(7);
    const audit = auditRowsOf(batch);
    expect(audit.map((a) => [a.seq, a.kind, a.type])).toEqual([
      [5, 'event', 'order.created'],
      [6, 'event', 'order.updated'],
      [7, 'event', 'order.cancelRequested'],
    ]);
    expect(audit.map((a) => a.prev_hash.toString('hex'))).toEqual(['ab'.repeat(32), Buffer.alloc(32, 5).toString('hex'), Buffer.alloc(32, 6).toString('hex')]);
    expect(audit.map((a) => a.hash.toString('hex'))).toEqual([5, 6, 7].map((i) => Buffer.alloc(32, i).toString('hex')));
    expect(audit[1]!.ts_ns).toBe(T0 + 1n);
    // timestamptz: microseconds since 2000-01-01 UTC
    expect(audit[1]!.ts_pg_us).toBe(T0 / 1000n - 946_684_800_000_000n);
    expect(JSON.parse(audit[2]!.payload)).toEqual({ type: 'order.cancelRequested', orderId: 'O1', actor: { id: 'u1', channel: 'api' } });
    expect(batch.lastHashHex).toBe(Buffer.alloc(32, 7).toString('hex'));
    expect(audit[0]!.actor_id).toBe('s1');
    expect(audit[2]!.actor_id).toBe('u1');
    const o = batch.orders.get('O1')!;
    expect(o).toMatchObject({ status: 'Canceled', is_open: false, first_seq: 5, last_seq: 6, price: '100.5' });
    expect(textRowsOf(batch.orderEvents).map((e) => [e.seq, e.order_id, e.status])).toEqual([
      ['5', 'O1', 'PendingNew'],
      ['6', 'O1', 'Canceled'],
      ['7', 'O1', null],
    ]);
  });

  it('merges order.updated changes onto the row of the same batch, and keeps changes to earlier orders apart', () => {
    const b = new BatchBuilder(new ProjectionState(), 1, ZERO_HASH_HEX);
    const created = {
      id: 'O1', clOrdId: 'O1', clientOrderId: 'c1', account: 'A1', strategyId: 's1', traderId: null, symbol: 'AAPL', venue: 'X', side: 'buy',
      type: 'limit', timeInForce: 'DAY', quantity: '10', price: '100.5', status: 'PendingNew', filledQuantity: '0', leavesQuantity: '10', averagePrice: null,
      fees: '0', venueOrderId: null, rejectReason: null, rejectDetail: null, replacesId: null, replacedById: null, uncertain: false, createdTs: '1767225600000000000', updatedTs: '1767225600000000000',
    };
    const change = (id: string, status: string, extra: Record<string, unknown> = {}) => ({
      id, status, filledQuantity: '4', leavesQuantity: status === 'Canceled' ? '0' : '6', averagePrice: '100.5', fees: '0.01', venueOrderId: null, uncertain: false, updatedTs: '1767225600000000009', ...extra,
    });
    b.add(entry(1, T0, 'event', { type: 'order.created', order: created, actor: { id: 's1', channel: 'strategy' } }));
    b.add(entry(2, T0 + 1n, 'event', { type: 'order.updated', order: change('O1', 'PartiallyFilled', { venueOrderId: 'V1' }), from: 'New', cause: 'fill' }));
    b.add(entry(3, T0 + 2n, 'event', { type: 'order.updated', order: change('O1', 'Canceled'), from: 'PendingCancel', cause: 'venue canceled' }));
    b.add(entry(4, T0 + 3n, 'event', { type: 'order.updated', order: change('O0', 'PendingCancel', { venueOrderId: 'V0' }), from: 'New', cause: 'cancel' }));
    b.add(entry(5, T0 + 4n, 'event', { type: 'order.updated', order: change('O0', 'Canceled', { rejectReason: 'X' }), from: 'PendingCancel', cause: 'venue canceled' }));
    const batch = b.finish();
    expect(batch.malformed).toEqual([]);
    // O1 was created in this batch: one full row with the last state; the null venue order id of the later change keeps V1
    expect(batch.orders.get('O1')).toMatchObject({ status: 'Canceled', is_open: false, filled_quantity: '4', leaves_quantity: '0', venue_order_id: 'V1', account: 'A1', first_seq: 1, last_seq: 3 });
    expect(batch.orderChanges.has('O1')).toBe(false);
    // O0 came earlier: one change row (an UPDATE), merged the same way
    expect(batch.orderChanges.get('O0')).toMatchObject({ status: 'Canceled', is_open: false, venue_order_id: 'V0', reject_reason: 'X', last_seq: 5 });
    expect(batch.orders.has('O0')).toBe(false);
    expect(textRowsOf(batch.orderEvents).map((e) => [e.seq, e.order_id, e.status, e.leaves_quantity])).toEqual([
      ['1', 'O1', 'PendingNew', '10'],
      ['2', 'O1', 'PartiallyFilled', '6'],
      ['3', 'O1', 'Canceled', '0'],
      ['4', 'O0', 'PendingCancel', '6'],
      ['5', 'O0', 'Canceled', '0'],
    ]);
  });

  it('books an order.massCanceled as a change and an order_events row per order it names', () => {
    const b = new BatchBuilder(new ProjectionState(), 1, ZERO_HASH_HEX);
    const created = {
      id: 'O2', clOrdId: 'O2', clientOrderId: 'c2', account: 'A1', strategyId: null, traderId: null, symbol: 'AAPL', venue: 'X', side: 'sell',
      type: 'limit', timeInForce: 'GTC', quantity: '10', price: '101', status: 'New', filledQuantity: '0', leavesQuantity: '10', averagePrice: null,
      fees: '0', venueOrderId: 'V2', rejectReason: null, rejectDetail: null, replacesId: null, replacedById: null, uncertain: false, createdTs: '1767225600000000000', updatedTs: '1767225600000000000',
    };
    b.add(entry(1, T0, 'event', { type: 'order.created', order: { ...created, filledQuantity: '3', averagePrice: '100', fees: '0.5' }, actor: { id: 'u1', channel: 'api' } }));
    b.add(entry(2, T0 + 7n, 'event', {
      type: 'order.massCanceled', venue: 'X', reportId: 'M1', requestId: 'K1-1', cause: 'venue mass cancel K1-1', updatedTs: '1767225600000000007',
      orders: [{ id: 'O1', from: 'PartiallyFilled', venueOrderId: 'V1' }, { id: 'O2', from: 'New' }],
    }));
    const batch = b.finish();
    expect(batch.malformed).toEqual([]);
    // O2 was created in this batch: merged into its row, its fills, fees and venue order id kept
    expect(batch.orders.get('O2')).toMatchObject({
      status: 'Canceled', is_open: false, leaves_quantity: '0', filled_quantity: '3', average_price: '100', fees: '0.5', venue_order_id: 'V2',
      updated_ts_ns: '1767225600000000007', first_seq: 1, last_seq: 2,
    });
    // O1 came earlier: an UPDATE that leaves the fill columns (null) as they are in the table
    expect(batch.orderChanges.get('O1')).toMatchObject({
      status: 'Canceled', is_open: false, leaves_quantity: '0', filled_quantity: null, average_price: null, fees: null, uncertain: null, venue_order_id: 'V1', last_seq: 2,
    });
    expect(textRowsOf(batch.orderEvents).map((e) => [e.seq, e.order_id, e.type, e.from_status, e.status, e.cause, e.filled_quantity, e.leaves_quantity])).toEqual([
      ['1', 'O2', 'order.created', null, 'New', null, '3', '10'],
      ['2', 'O1', 'order.massCanceled', 'PartiallyFilled', 'Canceled', 'venue mass cancel K1-1', null, '0'],
      ['2', 'O2', 'order.massCanceled', 'New', 'Canceled', 'venue mass cancel K1-1', null, '0'],
    ]);
  });

  it('records an order.massCanceled without its order list as malformed and projects the rest', () => {
    const b = new BatchBuilder(new ProjectionState(), 1, ZERO_HASH_HEX);
    b.add(entry(1, T0, 'event', { type: 'order.massCanceled', venue: 'X', reportId: 'M1', requestId: 'K1-1', cause: 'c', updatedTs: '1' }));
    const batch = b.finish();
    expect(batch.malformed).toEqual([{ seq: 1, type: 'order.massCanceled', error: 'order.massCanceled without orders' }]);
    expect(batch.audit).toHaveLength(1);
    expect(batch.orderEvents).toHaveLength(0);
  });

  it('refuses a gap in the sequence', () => {
    const b = new BatchBuilder(new ProjectionState(), 1, ZERO_HASH_HEX);
    expect(() => b.add(entry(2, T0, 'input', { type: 'timer' }))).toThrow(/expected seq 1/);
  });

  it('keeps a malformed record in the audit log only, and says why', () => {
    const b = new BatchBuilder(new ProjectionState(), 1, ZERO_HASH_HEX);
    b.add(entry(1, T0, 'event', { type: 'fill', fill: { id: 'F1', quantity: 'lots', price: '1' } }));
    const batch = b.finish();
    expect(batch.audit).toHaveLength(1);
    expect(batch.fills).toHaveLength(0);
    expect(batch.malformed).toEqual([{ seq: 1, type: 'fill', error: 'fill.quantity must be a decimal string' }]);
  });

  it("gives every record's time to the batch's partition range (audit_log is partitioned by month)", () => {
    const b = new BatchBuilder(new ProjectionState(), 1, ZERO_HASH_HEX);
    b.add(entry(1, T0 - 1n, 'input', { type: 'timer' }));
    b.add(entry(2, T0 + 40n * 24n * H, 'input', { type: 'system.note', event: 'x', detail: {} }));
    const batch = b.finish();
    expect([batch.minTs, batch.maxTs]).toEqual([nsToIso(T0 - 1n), nsToIso(T0 + 40n * 24n * H)]);
  });

  it("takes the WORM archive's confirmed mark from audit.archived notes: the highest, never lower, old notes without it ignored", () => {
    const note = (detail: Record<string, unknown>) => ({ type: 'system.note', event: 'audit.archived', detail: { objects: ['journal/x.seg'], bytes: 1, retainUntil: 'r', ...detail } });
    const b = new BatchBuilder(new ProjectionState(), 1, ZERO_HASH_HEX);
    b.add(entry(1, T0, 'input', note({})));
    b.add(entry(2, T0 + 1n, 'input', note({ archivedThroughSeq: 0 })));
    expect(b.finish().archiveMark).toBeNull();

    const c = new BatchBuilder(new ProjectionState(), 10, ZERO_HASH_HEX);
    c.add(entry(10, T0, 'input', note({ archivedThroughSeq: 7 })));
    c.add(entry(11, T0 + 1n, 'event', note({ archivedThroughSeq: 7 })));
    c.add(entry(12, T0 + 2n, 'input', { type: 'system.note', event: 'audit.checkpoint', detail: { archivedThroughSeq: 11 } }));
    c.add(entry(13, T0 + 3n, 'input', note({ archivedThroughSeq: 5 })));
    c.add(entry(14, T0 + 4n, 'input', note({ archivedThroughSeq: 'lots' })));
    c.add(entry(15, T0 + 5n, 'input', note({ archivedThroughSeq: 15 })));
    const batch = c.finish();
    expect(batch.archiveMark).toEqual({ archived_seq: 7, source_seq: 10, reported_at: nsToIso(T0) });
    // a mark that is not a seq before the note itself is malformed (kept in audit_log only)
    expect(batch.malformed.map((m) => m.seq)).toEqual([14, 15]);
    expect(batch.audit).toHaveLength(6);
  });

  it('marks the prunes a database.auditPruned note journals, each once at its first note; a malformed note is kept in audit_log only', () => {
    const prune = (id: unknown) => ({ id, partition: 'audit_log_p202403', month: '2024-03-01', minSeq: 1, maxSeq: 20, retentionYears: 2, archivedSeq: 20, prunedAt: '2026-11-28T00:00:00.000Z', prunedBy: 'bulwark' });
    const note = (detail: unknown) => ({ type: 'system.note', event: 'database.auditPruned', detail });
    const b = new BatchBuilder(new ProjectionState(), 20, ZERO_HASH_HEX);
    b.add(entry(20, T0, 'input', note({ prunes: [prune(3), prune(4)] })));
    // the core's echo of the same note, and a later one repeating 4: the first note's seq stays
    b.add(entry(21, T0 + 1n, 'event', note({ prunes: [prune(3), prune(4)] })));
    b.add(entry(22, T0 + 2n, 'input', note({ prunes: [prune(4), prune(5)] })));
    b.add(entry(23, T0 + 3n, 'input', note({ prunes: [] })));
    // malformed: no list, not an object, an id that is not a positive integer (nothing of the note is taken)
    b.add(entry(24, T0 + 4n, 'input', note({})));
    b.add(entry(25, T0 + 5n, 'input', { type: 'system.note', event: 'database.auditPruned' }));
    b.add(entry(26, T0 + 6n, 'input', note({ prunes: [prune(6), prune(0)] })));
    b.add(entry(27, T0 + 7n, 'input', note({ prunes: [prune(7), 'x'] })));
    b.add(entry(28, T0 + 8n, 'input', note({ prunes: [prune('8')] })));
    b.add(entry(29, T0 + 9n, 'input', note({ prunes: [prune(2 ** 53)] })));
    // another event's prunes are not these
    b.add(entry(30, T0 + 10n, 'input', { type: 'system.note', event: 'audit.checkpoint', detail: { prunes: [prune(9)] } }));
    b.add(entry(31, T0 + 11n, 'input', note({ prunes: [{ ...prune(10), partition: undefined }] })));
    // the same id naming another partition (another database's prune): kept apart, the writer matches both
    b.add(entry(32, T0 + 12n, 'input', note({ prunes: [{ ...prune(3), partition: 'audit_log_p199901' }] })));
    const batch = b.finish();
    expect(batch.prunesJournaled).toEqual([
      { prune_id: 3, partition: 'audit_log_p202403', seq: 20 },
      { prune_id: 4, partition: 'audit_log_p202403', seq: 20 },
      { prune_id: 5, partition: 'audit_log_p202403', seq: 22 },
      { prune_id: 3, partition: 'audit_log_p199901', seq: 32 },
    ]);
    expect(batchRowCount(batch)).toBe(batch.audit.length + 4);
    expect(batch.malformed).toEqual([
      { seq: 24, type: 'system.note', error: 'database.auditPruned without a prunes list' },
      { seq: 25, type: 'system.note', error: 'database.auditPruned without a prunes list' },
      { seq: 26, type: 'system.note', error: 'database.auditPruned with an invalid prune id (0)' },
      { seq: 27, type: 'system.note', error: 'database.auditPruned with an invalid prune id (undefined)' },
      { seq: 28, type: 'system.note', error: 'database.auditPruned with an invalid prune id (8)' },
      { seq: 29, type: 'system.note', error: `database.auditPruned with an invalid prune id (${2 ** 53})` },
      { seq: 31, type: 'system.note', error: 'database.auditPruned: prune 10 without its partition' },
    ]);
    expect(batch.audit).toHaveLength(13);
  });

  it('computes hourly and daily P&L per strategy and account from positions and marks', () => {
    const state = new ProjectionState();
    let b = new BatchBuilder(state, 1, ZERO_HASH_HEX);
    // hour 0: buy 10 @ 100 (cost 1000, fee 1), mark 101 → unrealized 10, net 9
    b.add(entry(1, T0 + 10n, 'event', {
      type: 'fill',
      fill: { id: 'F1', orderId: 'O1', execId: 'E1', account: 'A1', strategyId: 's1', symbol: 'AAPL', venue: 'X', side: 'buy', quantity: '10', price: '100', fee: '1', liquidity: 'maker', ts: '1', seq: 0 },
    }));
    b.add(entry(2, T0 + 11n, 'event', position('s1', 'AAPL', '10', '1000', '0', '1', '100')));
    b.add(entry(3, T0 + 12n, 'input', quote('AAPL', '100.9', '101.1')));
    // hour 1: mark 103 → unrealized 30, net 29
    b.add(entry(4, T0 + H + 1n, 'input', quote('AAPL', '102.9', '103.1')));
    const first = b.finish();
    const row = (batch: typeof first, period: string, scope: string, bucket: bigint) => batch.performance.get(`${period}|${scope}|${scope === 'strategy' ? 's1' : 'A1'}|${nsToIso(bucket)}`);
    expect(row(first, 'hour', 'strategy', T0)).toMatchObject({ realized_pnl: '0', unrealized_pnl: '10', fees: '1', net_pnl: '9', open_net_pnl: '0', fills: 1, traded_quantity: '10', traded_notional: '1000' });
    expect(row(first, 'hour', 'strategy', T0 + H)).toMatchObject({ unrealized_pnl: '30', net_pnl: '29', open_net_pnl: '9', fills: 0 });
    expect(row(first, 'day', 'account', T0)).toMatchObject({ net_pnl: '29', open_net_pnl: '0', fills: 1 });

    // next batch (state carried over): sell 10 @ 104 realizes 40, fee 1 → net 38
    b = new BatchBuilder(state, 5, first.lastHashHex);
    b.add(entry(5, T0 + H + 2n, 'event', position('s1', 'AAPL', '0', '0', '40', '2', '104')));
    const second = b.finish();
    expect(row(second, 'hour', 'strategy', T0 + H)).toMatchObject({ realized_pnl: '40', unrealized_pnl: '0', fees: '2', net_pnl: '38', open_net_pnl: '29' });
  });

  it('restores P&L state from position snapshots', () => {
    const state = ProjectionState.fromSeeds([
      { key: 'A1|s1|AAPL', account: 'A1', strategy_id: 's1', symbol: 'AAPL', quantity: '10', cost_basis: '1000', realized_pnl: '5', unrealized_pnl: '20', mark_price: '102', fees: '1' },
    ]);
    const b = new BatchBuilder(state, 9, ZERO_HASH_HEX);
    b.add(entry(9, T0, 'input', quote('AAPL', '104.9', '105.1')));
    const batch = b.finish();
    expect(batch.performance.get(`hour|strategy|s1|${nsToIso(T0)}`)).toMatchObject({ open_net_pnl: '24', net_pnl: '54', unrealized_pnl: '50', realized_pnl: '5' });
  });
});
