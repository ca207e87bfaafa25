/**
 * Every pre-trade check at its boundary: accepted exactly at the limit, rejected just past it with
 * its reason code and the numbers behind it — for each scope level a limit can be set on.
 */
import { describe, expect, it } from 'vitest';
import type { LimitValues, RiskConfig, RiskScope } from '../../src/risk/config.js';
import type { OrderRequestWire } from '../../src/engine/messages.js';
import { KernelHarness, kernelConfig, OPEN_RISK, T0 } from '../helpers.js';

const STRATEGY = { id: 'st1', class: 'market-maker', account: 'ACC1', traderId: 'tr1', autoStart: false, params: { venue: 'SIMX', symbols: ['AAPL'] } };

function harness(risk: Partial<RiskConfig> = {}, extra: Parameters<typeof kernelConfig>[0] = {}) {
  const h = new KernelHarness(kernelConfig({ strategies: [STRATEGY], risk: { ...OPEN_RISK, ...risk }, ...extra }));
  h.quote('SIMX', 'AAPL', '99.99', '100.01');
  h.quote('SIMY', 'AAPL', '99.99', '100.01');
  h.quote('SIMX', 'MSFT', '99.99', '100.01');
  return h;
}

/** An order that falls under every scope: firm, account ACC1, trader tr1, strategy st1, symbol AAPL. */
function base(o: Partial<OrderRequestWire> = {}): Partial<OrderRequestWire> {
  return { account: 'ACC1', traderId: 'tr1', strategyId: 'st1', symbol: 'AAPL', venue: 'SIMX', price: '100', ...o };
}

const SCOPES: [RiskScope, string | undefined][] = [
  ['firm', undefined],
  ['account', 'ACC1'],
  ['trader', 'tr1'],
  ['strategy', 'st1'],
  ['symbol', 'AAPL'],
];

function rule(scope: RiskScope, id: string | undefined, limits: LimitValues): Partial<RiskConfig> {
  return { rules: [{ scope, ...(id ? { id } : {}), limits }] };
}

function key(scope: RiskScope, id: string | undefined) {
  return scope === 'firm' ? 'firm' : `${scope}:${id}`;
}

describe.each(SCOPES)('limits set on scope %s', (scope, id) => {
  it('maxOrderQty: accepted at the limit, MAX_ORDER_QTY one lot past it', () => {
    const h = harness(rule(scope, id, { maxOrderQty: '100' }));
    expect(h.order(base({ quantity: '100' })).order!.status).toBe('PendingNew');
    const r = h.order(base({ quantity: '101' })).order!;
    expect(r).toMatchObject({ status: 'Rejected', rejectReason: 'MAX_ORDER_QTY' });
    expect(r.rejectDetail).toMatchObject({ scope: key(scope, id), quantity: '101', limit: '100' });
    // an order outside the scope is not bound by it
    if (scope !== 'firm') expect(h.order({ account: 'ACC2', symbol: 'MSFT', quantity: '101' }).order!.status).toBe('PendingNew');
  });

  it('maxOrderNotional: accepted at the limit, MAX_ORDER_NOTIONAL one tick past it', () => {
    const h = harness(rule(scope, id, { maxOrderNotional: '10000' }));
    expect(h.order(base({ quantity: '100', price: '100' })).order!.status).toBe('PendingNew');
    const r = h.order(base({ quantity: '100', price: '100.01' })).order!;
    expect(r).toMatchObject({ rejectReason: 'MAX_ORDER_NOTIONAL' });
    expect(r.rejectDetail).toMatchObject({ notional: '10001', limit: '10000' });
  });

  it('maxLongPosition: position + open buys + this order; POSITION_LIMIT_LONG past it', () => {
    const h = harness(rule(scope, id, { maxLongPosition: '100' }));
    const a = h.order(base({ quantity: '60' })).order!;
    h.ack(a);
    h.fill(a, '20', '100'); // position 20, open 40
    expect(h.order(base({ quantity: '40' })).order!.status).toBe('PendingNew'); // 20 + 40 + 40 = 100
    const r = h.order(base({ quantity: '1' })).order!;
    expect(r).toMatchObject({ rejectReason: 'POSITION_LIMIT_LONG' });
    expect(r.rejectDetail).toMatchObject({ position: '20', projected: '101', limit: '100' });
    // selling is not limited by the long limit
    expect(h.order(base({ side: 'sell', quantity: '50', price: '100' })).order!.status).toBe('PendingNew');
  });

  it('maxShortPosition: POSITION_LIMIT_SHORT past it', () => {
    const h = harness(rule(scope, id, { maxShortPosition: '50' }));
    expect(h.order(base({ side: 'sell', quantity: '50' })).order!.status).toBe('PendingNew');
    expect(h.order(base({ side: 'sell', quantity: '1' })).order!).toMatchObject({ rejectReason: 'POSITION_LIMIT_SHORT' });
  });

  it('maxOpenOrders: MAX_OPEN_ORDERS past it, and freed when an order ends', () => {
    const h = harness(rule(scope, id, { maxOpenOrders: 2 }));
    const a = h.order(base()).order!;
    h.order(base());
    expect(h.order(base()).order!).toMatchObject({ rejectReason: 'MAX_OPEN_ORDERS' });
    h.ack(a);
    h.report(a, { execType: 'canceled', ordStatus: 'Canceled' });
    expect(h.order(base()).order!.status).toBe('PendingNew');
  });

  it('maxOrdersPerSecond and maxOrdersPerMinute: sliding windows', () => {
    const h = harness(rule(scope, id, { maxOrdersPerSecond: 3, maxOrdersPerMinute: 5 }));
    for (let i = 0; i < 3; i++) expect(h.order(base()).order!.status).toBe('PendingNew');
    expect(h.order(base()).order!).toMatchObject({ rejectReason: 'ORDER_RATE_SECOND' });
    h.advance(1000);
    expect(h.order(base()).order!.status).toBe('PendingNew');
    expect(h.order(base()).order!.status).toBe('PendingNew');
    expect(h.order(base()).order!).toMatchObject({ rejectReason: 'ORDER_RATE_MINUTE' });
    h.advance(60_000);
    expect(h.order(base()).order!.status).toBe('PendingNew');
  });

  it('maxMessagesPerSecond: cancels and replaces count; a cancel past it is refused with MESSAGE_RATE', () => {
    const h = harness(rule(scope, id, { maxMessagesPerSecond: 3 }));
    const a = h.order(base()).order!;
    const b = h.order(base()).order!;
    h.ack(a);
    h.ack(b);
    expect(h.input({ type: 'cmd.order.cancel', actor: { id: 'u', channel: 'api' }, orderId: a.id }).error).toBeUndefined();
    expect(h.input({ type: 'cmd.order.cancel', actor: { id: 'u', channel: 'api' }, orderId: b.id }).error?.code).toBe('MESSAGE_RATE');
    h.advance(1000);
    expect(h.input({ type: 'cmd.order.cancel', actor: { id: 'u', channel: 'api' }, orderId: b.id }).error).toBeUndefined();
  });

  it('fatFingerPct and fatFingerTicks against the mid', () => {
    const h = harness(rule(scope, id, { fatFingerPct: '5', fatFingerTicks: 600 }));
    expect(h.order(base({ price: '105' })).order!.status).toBe('PendingNew');
    const r = h.order(base({ price: '105.01' })).order!;
    expect(r).toMatchObject({ rejectReason: 'FAT_FINGER' });
    expect(r.rejectDetail).toMatchObject({ reference: '100', limitPct: '5', deviationPct: '5.01' });
    const h2 = harness(rule(scope, id, { fatFingerTicks: 10 }));
    expect(h2.order(base({ price: '99.90' })).order!.status).toBe('PendingNew');
    expect(h2.order(base({ price: '99.89' })).order!).toMatchObject({ rejectReason: 'FAT_FINGER_TICKS' });
  });

  it('no fresh reference price → NO_REFERENCE_PRICE', () => {
    const h = harness(rule(scope, id, { fatFingerPct: '5', referenceMaxAgeMs: 1000 }));
    // the SIMX AAPL quote was stamped at T0 + 2 ms; each input moves time 1 ms
    h.advance(996);
    expect(h.order(base()).order!.status).toBe('PendingNew'); // 999 ms old
    h.advance(5);
    expect(h.order(base()).order!).toMatchObject({ rejectReason: 'NO_REFERENCE_PRICE' });
  });

  it('duplicateWindowMs: an identical order within the window is DUPLICATE_ORDER', () => {
    const h = harness(rule(scope, id, { duplicateWindowMs: 500 }));
    expect(h.order(base()).order!.status).toBe('PendingNew');
    expect(h.order(base()).order!).toMatchObject({ rejectReason: 'DUPLICATE_ORDER' });
    expect(h.order(base({ quantity: '11' })).order!.status).toBe('PendingNew');
    h.advance(500);
    expect(h.order(base()).order!.status).toBe('PendingNew');
  });

  it('creditLimit: open orders + gross exposure + this order; CREDIT_LIMIT past it', () => {
    const h = harness(rule(scope, id, { creditLimit: '3000' }));
    const a = h.order(base({ quantity: '10' })).order!; // 1000
    h.ack(a);
    h.fill(a, '10', '100'); // exposure 1000
    expect(h.order(base({ quantity: '20' })).order!.status).toBe('PendingNew'); // 1000 + 2000 = 3000
    expect(h.order(base({ quantity: '1' })).order!).toMatchObject({ rejectReason: 'CREDIT_LIMIT' });
  });

  it('dailyLoss: at the limit stays ACTIVE, one cent past → REDUCING; only reducing orders pass', () => {
    const h = harness(rule(scope, id, { maxDailyLoss: '100', dailyLossAction: 'REDUCING' }));
    h.input({ type: 'timer' }); // session start baseline
    const a = h.order(base({ quantity: '10' })).order!;
    h.ack(a);
    h.fill(a, '10', '100');
    h.quote('SIMX', 'AAPL', '89.99', '90.01'); // mark 90: loss exactly 100
    h.input({ type: 'timer' });
    expect(h.kernel.risk.stateOf(key(scope, id))).toBe('ACTIVE');
    h.quote('SIMX', 'AAPL', '89.98', '90.00'); // mark 89.99: loss 100.10
    h.input({ type: 'timer' });
    expect(h.kernel.risk.stateOf(key(scope, id))).toBe('REDUCING');
    expect(h.eventsOf('risk.stateChanged').at(-1)).toMatchObject({ scope: key(scope, id), to: 'REDUCING', detail: { limit: '100' } });
    const inc = h.order(base({ quantity: '1', price: '90' })).order!;
    expect(inc).toMatchObject({ rejectReason: 'REDUCING_ONLY' });
    expect(h.order(base({ side: 'sell', quantity: '10', price: '90' })).order!.status).toBe('PendingNew');
    expect(h.order(base({ side: 'sell', quantity: '1', price: '90' })).order!).toMatchObject({ rejectReason: 'REDUCING_ONLY' });
  });

  it('HALTED blocks every order in scope', () => {
    const h = harness(rule(scope, id, { maxOrderQty: '1000' }));
    h.input({ type: 'cmd.risk.state', actor: { id: 'dev-risk', role: 'risk_manager', channel: 'api' }, reason: 'manual', scope: key(scope, id), state: 'HALTED' });
    expect(h.order(base()).order!).toMatchObject({ rejectReason: 'TRADING_HALTED' });
  });
});

describe('checks without a scope', () => {
  it('concentration: share of projected gross exposure in one symbol', () => {
    const h = harness();
    const m = h.order({ symbol: 'MSFT', quantity: '10', price: '100' }).order!;
    h.ack(m);
    h.fill(m, '10', '100'); // MSFT exposure 1000
    h.input({ type: 'cmd.risk.limits', actor: { id: 'dev-risk', channel: 'api' }, reason: 't', config: { ...OPEN_RISK, rules: [{ scope: 'firm', limits: { maxConcentrationPct: '50', concentrationMinGross: '0' } }] } });
    expect(h.order(base({ quantity: '10' })).order!.status).toBe('PendingNew'); // 1000 / 2000 = 50 %
    const r = h.order(base({ quantity: '1' })).order!; // (1000 + 100) / 2100
    expect(r).toMatchObject({ rejectReason: 'CONCENTRATION' });
    expect(r.rejectDetail).toMatchObject({ limitPct: '50', exposure: '1100', grossExposure: '2100' });
  });

  it('buying power: cash + margin allowance − commitments of open orders', () => {
    const h = harness({ rules: [{ scope: 'account', id: 'ACC1', limits: { marginAllowance: '1000' } }] });
    expect(h.order(base({ quantity: '10000', price: '100' })).order!.status).toBe('PendingNew'); // 1,000,000 = all the cash
    expect(h.order(base({ quantity: '10', price: '100' })).order!.status).toBe('PendingNew'); // the margin allowance
    const r = h.order(base({ quantity: '1', price: '100' })).order!;
    expect(r).toMatchObject({ rejectReason: 'INSUFFICIENT_BUYING_POWER' });
    expect(r.rejectDetail).toMatchObject({ required: '100', buyingPower: '0' });
    // a sell covered by nothing opens a short and needs buying power too
    expect(h.order(base({ side: 'sell', quantity: '1', price: '100' })).order!).toMatchObject({ rejectReason: 'INSUFFICIENT_BUYING_POWER' });
  });

  it('instrument validity: tick, lot, minimum quantity', () => {
    const h = harness({ rules: [{ scope: 'firm', limits: { minOrderQty: '5' } }] });
    expect(h.order(base({ price: '100.005' })).order!).toMatchObject({ rejectReason: 'INVALID_TICK' });
    expect(h.order(base({ quantity: '10.5' })).order!).toMatchObject({ rejectReason: 'INVALID_LOT' });
    expect(h.order(base({ quantity: '4' })).order!).toMatchObject({ rejectReason: 'QTY_BELOW_MIN' });
    expect(h.order(base({ quantity: '5' })).order!.status).toBe('PendingNew');
  });

  it('a repeated client order id is DUPLICATE_CLIENT_ORDER_ID', () => {
    const h = harness();
    expect(h.order(base({ clientOrderId: 'x-1' })).order!.status).toBe('PendingNew');
    expect(h.order(base({ clientOrderId: 'x-1' })).order!).toMatchObject({ rejectReason: 'DUPLICATE_CLIENT_ORDER_ID' });
    expect(h.order(base({ clientOrderId: 'x-1', account: 'ACC2', strategyId: undefined })).order!.status).toBe('PendingNew');
  });

  it('venue halt and restricted list', () => {
    const h = harness({ restricted: ['MSFT'] });
    h.input({ type: 'md.status', m: { type: 'instrumentStatus', venue: 'SIMX', symbol: 'AAPL', feedSeq: 99, halted: true, open: true, venueTs: '0' } });
    expect(h.order(base()).order!).toMatchObject({ rejectReason: 'SYMBOL_HALTED' });
    expect(h.order(base({ venue: 'SIMY' })).order!.status).toBe('PendingNew');
    expect(h.order(base({ symbol: 'MSFT' })).order!).toMatchObject({ rejectReason: 'RESTRICTED_SYMBOL' });
  });

  it('trading hours: sessions, holidays and half days of the instrument calendar', () => {
    // T0 is Tuesday 2026-11-17 08:26:40 UTC = 03:26:40 in New York
    const cal = { id: 'XNYS', timezone: 'America/New_York', weekdays: [1, 2, 3, 4, 5], sessions: [{ open: '09:30', close: '16:00' }], holidays: ['2026-11-26'], halfDays: { '2026-11-27': '13:00' } };
    const h = harness({}, { calendars: [cal], instruments: [{ symbol: 'AAPL', venue: 'SIMX', tickSize: '0.01', lotSize: '1', currency: 'USD', calendar: 'XNYS' }] });
    const at = (iso: string) => {
      const ns = BigInt(Date.parse(iso)) * 1_000_000n;
      if (ns > h.ts) h.ts = ns;
      h.quote('SIMX', 'AAPL', '99.99', '100.01');
    };
    expect(h.ts).toBeGreaterThan(T0);
    at('2026-11-18T14:29:00Z'); // 09:29 NY
    expect(h.order(base()).order!).toMatchObject({ rejectReason: 'OUTSIDE_TRADING_HOURS' });
    at('2026-11-18T14:30:00Z'); // 09:30 NY: open
    expect(h.order(base()).order!.status).toBe('PendingNew');
    at('2026-11-26T16:00:00Z'); // Thanksgiving
    expect(h.order(base()).order!).toMatchObject({ rejectReason: 'OUTSIDE_TRADING_HOURS' });
    at('2026-11-27T17:59:00Z'); // 12:59 NY on the half day
    expect(h.order(base()).order!.status).toBe('PendingNew');
    at('2026-11-27T18:00:00Z'); // 13:00 NY: closed early
    expect(h.order(base()).order!).toMatchObject({ rejectReason: 'OUTSIDE_TRADING_HOURS' });
    at('2026-11-28T16:00:00Z'); // Saturday
    expect(h.order(base()).order!).toMatchObject({ rejectReason: 'OUTSIDE_TRADING_HOURS' });
  });

  it('the tightest applicable limit wins', () => {
    const h = harness({
      rules: [
        { scope: 'firm', limits: { maxOrderQty: '1000' } },
        { scope: 'strategy', id: 'st1', limits: { maxOrderQty: '50' } },
        { scope: 'account', id: 'ACC1', limits: { maxOrderQty: '200' } },
      ],
    });
    expect(h.order(base({ quantity: '50' })).order!.status).toBe('PendingNew');
    expect(h.order(base({ quantity: '51' })).order!.rejectDetail).toMatchObject({ scope: 'strategy:st1' });
    expect(h.order(base({ quantity: '201', strategyId: undefined })).order!.rejectDetail).toMatchObject({ scope: 'account:ACC1' });
  });

  it('utilization alerts at 80 % and 100 %, once per crossing', () => {
    const h = harness({ rules: [{ scope: 'account', id: 'ACC1', limits: { maxLongPosition: '100' } }] });
    h.order(base({ quantity: '79' }));
    expect(h.eventsOf('risk.alert')).toHaveLength(0);
    h.order(base({ quantity: '1' }));
    h.order(base({ quantity: '1' }));
    const alerts = h.eventsOf('risk.alert').map((e) => e.alert);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ scope: 'account:ACC1', limit: 'maxLongPosition:AAPL', thresholdPct: 80, severity: 'warning', limitValue: '100' });
    h.order(base({ quantity: '19' }));
    expect(h.eventsOf('risk.alert').map((e) => e.alert.thresholdPct)).toEqual([80, 100]);
    expect(h.kernel.risk.alerts).toHaveLength(2);
  });

  it('a value hovering at a threshold raises one alert; it re-arms only 10 points below', () => {
    const h = harness({ rules: [{ scope: 'account', id: 'ACC1', limits: { maxLongPosition: '100' } }] });
    const a = h.order(base({ quantity: '80' })).order!; // 80 %
    h.ack(a);
    const count = () => h.eventsOf('risk.alert').length;
    expect(count()).toBe(1);
    h.report(a, { execType: 'canceled', ordStatus: 'Canceled' });
    const b = h.order(base({ quantity: '75' })).order!; // 75 %: below 80 but not below 70 — still armed
    h.ack(b);
    h.report(b, { execType: 'canceled', ordStatus: 'Canceled' });
    h.order(base({ quantity: '81' })); // back over 80 %: no second alert
    expect(count()).toBe(1);
    for (const o of h.kernel.oms.openOrders()) {
      h.ack(o);
      h.report(o, { execType: 'canceled', ordStatus: 'Canceled' });
    }
    const c = h.order(base({ quantity: '69' })).order!; // under 70 %: re-armed
    h.ack(c);
    h.report(c, { execType: 'canceled', ordStatus: 'Canceled' });
    h.order(base({ quantity: '85' }));
    expect(count()).toBe(2);
  });

  it('a limit change takes effect for the next order and is journaled with old and new values, who and why', () => {
    const h = harness({ rules: [{ scope: 'firm', limits: { maxOrderQty: '100' } }] });
    expect(h.order(base({ quantity: '100' })).order!.status).toBe('PendingNew');
    const actor = { id: 'dev-risk', role: 'risk_manager', channel: 'api', address: '10.0.0.1' };
    h.input({ type: 'cmd.risk.limits', actor, reason: 'tighten', config: { ...OPEN_RISK, rules: [{ scope: 'firm', limits: { maxOrderQty: '99' } }] } });
    expect(h.order(base({ quantity: '100' })).order!).toMatchObject({ rejectReason: 'MAX_ORDER_QTY' });
    const ch = h.eventsOf('risk.limitsChanged')[0]!;
    expect(ch.old.rules[0]!.limits.maxOrderQty).toBe('100');
    expect(ch.new.rules[0]!.limits.maxOrderQty).toBe('99');
    expect(ch).toMatchObject({ actor, reason: 'tighten' });
    // an invalid configuration is refused and changes nothing
    const bad = h.input({ type: 'cmd.risk.limits', actor, reason: 'oops', config: { ...OPEN_RISK, rules: [{ scope: 'account', limits: { maxOrderQty: '-1' } }] } as unknown as RiskConfig });
    expect(bad.error?.code).toBe('INVALID_LIMITS');
    expect(bad.error?.detail.message).toMatch(/risk\.rules\.0\./);
    expect(h.order(base({ quantity: '99' })).order!.status).toBe('PendingNew');
  });
});
