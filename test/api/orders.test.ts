import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../src/api/server.js';
import { UserDirectory } from '../../src/api/auth.js';
import { BulwarkNode } from '../../src/engine/node.js';
import { nodeConfig, tempDir } from '../helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('REST API', () => {
  let node: BulwarkNode;
  let app: FastifyInstance;
  const t = tempDir();

  beforeAll(async () => {
    node = await BulwarkNode.start(nodeConfig(t.dir));
    app = await buildApi({ node, users: UserDirectory.forEnvironment('dev', []) });
    await sleep(1500);
  });

  afterAll(async () => {
    await app.close();
    await node.stop('test');
    t.cleanup();
  });

  const good = { symbol: 'AAPL', venue: 'SIMX', side: 'buy', type: 'limit', quantity: '5', price: '220.00', timeInForce: 'DAY', clientOrderId: 'manual-1', account: 'FIRM-1' };

  it('GET /health reports every component', async () => {
    const r = await app.inject({ method: 'GET', url: '/health' });
    expect(r.statusCode).toBe(200);
    const b = r.json();
    expect(b.status).toBe('ok');
    expect(Object.keys(b.components)).toEqual(expect.arrayContaining(['journal', 'core', 'venues', 'strategies', 'risk', 'api', 'database', 'audit']));
    expect(b.components.audit.status).toBe('up');
    expect(b.components.venues.SIMX.connected).toBe(true);
  });

  it('list limits are digits in range: anything else is a 400 naming limit, not coerced', async () => {
    for (const [url, max] of [['/orders', 100_000], ['/fills', 100_000], ['/alerts', 10_000]] as const) {
      for (const limit of ['0', '', '1e3', '0x10', ' 5', '2.0', '-1', String(max + 1), 'all']) {
        const r = await app.inject({ method: 'GET', url: `${url}?limit=${encodeURIComponent(limit)}` });
        expect(r.statusCode, `${url} ${limit}`).toBe(400);
        expect(r.json(), `${url} ${limit}`).toEqual({ error: 'bad_request', message: `limit: must be an integer 1-${max}`, field: 'limit' });
      }
      expect((await app.inject({ method: 'GET', url: `${url}?limit=${max}` })).statusCode).toBe(200);
    }
  });

  const cases: [string, unknown, string][] = [
    ['quantity as a number', { ...good, quantity: 5 }, 'quantity'],
    ['quantity with 9 decimals', { ...good, quantity: '1.000000001' }, 'quantity'],
    ['negative price', { ...good, price: '-1' }, 'price'],
    ['missing symbol', { ...good, symbol: undefined }, 'symbol'],
    ['unknown side', { ...good, side: 'short' }, 'side'],
    ['unknown type', { ...good, type: 'stop' }, 'type'],
    ['limit without price', { ...good, price: undefined }, 'price'],
    ['market with price', { ...good, type: 'market' }, 'price'],
    ['bad time in force', { ...good, timeInForce: 'GTD' }, 'timeInForce'],
    ['unknown field', { ...good, leverage: '10' }, 'leverage'],
    ['array body', [good], 'body'],
    ['bad clientOrderId', { ...good, clientOrderId: 'has space' }, 'clientOrderId'],
  ];
  for (const [name, body, field] of cases) {
    it(`POST /orders with ${name} → 400 naming ${field}`, async () => {
      const before = node.kernel.oms.orders.size;
      const r = await app.inject({ method: 'POST', url: '/orders', payload: body as object });
      expect(r.statusCode).toBe(400);
      expect(r.json()).toMatchObject({ error: 'bad_request', field });
      expect(r.json().message).toContain(field);
      // nothing was booked for it (strategies may have sent their own orders meanwhile)
      expect([...node.kernel.oms.orders.values()].slice(before).some((o) => o.strategyId === null)).toBe(false);
    });
  }

  it('malformed JSON and a wrong content type get a 400/415, not a crash', async () => {
    const r1 = await app.inject({ method: 'POST', url: '/orders', payload: '{"symbol":', headers: { 'content-type': 'application/json' } });
    expect(r1.statusCode).toBe(400);
    expect(r1.json().field).toBe('body');
    const r2 = await app.inject({ method: 'POST', url: '/orders', payload: 'symbol=AAPL', headers: { 'content-type': 'text/plain' } });
    expect(r2.statusCode).toBe(400);
    expect(r2.json().field).toBe('body');
    const r3 = await app.inject({ method: 'POST', url: '/orders', payload: '<order/>', headers: { 'content-type': 'application/xml' } });
    expect(r3.statusCode).toBe(415);
  });

  it('a good manual order takes the same path as strategy orders, and the node keeps trading', async () => {
    const ordersBefore = node.kernel.oms.orders.size;
    const r = await app.inject({ method: 'POST', url: '/orders', payload: good });
    expect(r.statusCode).toBe(201);
    const o = r.json();
    expect(o).toMatchObject({ clientOrderId: 'manual-1', symbol: 'AAPL', venue: 'SIMX', side: 'buy', type: 'limit', quantity: '5', price: '220', status: 'PendingNew', filledQuantity: '0', strategyId: null });
    // the same client order id again is a duplicate, rejected by risk with a reason code
    const dup = await app.inject({ method: 'POST', url: '/orders', payload: good });
    expect(dup.statusCode).toBe(422);
    expect(dup.json()).toMatchObject({ status: 'Rejected', rejectReason: 'DUPLICATE_CLIENT_ORDER_ID' });
    const del = await app.inject({ method: 'DELETE', url: `/orders/${o.id}` });
    expect(del.statusCode).toBe(202);
    await sleep(1000);
    expect(node.kernel.oms.get(o.id)!.status).toBe('Canceled');
    expect(node.kernel.oms.orders.size).toBeGreaterThan(ordersBefore + 2);
    const list = await app.inject({ method: 'GET', url: '/orders?limit=1000' });
    expect(list.json().find((x: { id: string }) => x.id === o.id).status).toBe('Canceled');
  });

  it('PUT /risk/limits: refused without the role or with a bad value; visible in GET and in the journal; judges the next order', async () => {
    const current = (await app.inject({ method: 'GET', url: '/risk/limits' })).json();
    const tighter = { ...current, rules: [{ scope: 'account', id: 'FIRM-1', limits: { maxOrderQty: '3' } }, ...current.rules] };
    expect((await app.inject({ method: 'PUT', url: '/risk/limits', payload: { reason: 'x', config: tighter } })).statusCode).toBe(401);
    expect((await app.inject({ method: 'PUT', url: '/risk/limits', payload: { reason: 'x', config: tighter }, headers: { authorization: 'Bearer dev-trader' } })).statusCode).toBe(403);
    const bad = await app.inject({
      method: 'PUT',
      url: '/risk/limits',
      payload: { reason: 'x', config: { ...tighter, rules: [{ scope: 'account', id: 'FIRM-1', limits: { maxOrderQty: '-3' } }] } },
      headers: { authorization: 'Bearer dev-risk' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toBe('config.rules.0.limits.maxOrderQty');
    const ok = await app.inject({ method: 'PUT', url: '/risk/limits', payload: { reason: 'tighten for test', config: tighter }, headers: { authorization: 'Bearer dev-risk' } });
    expect(ok.statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/risk/limits' })).json().rules[0]).toEqual(tighter.rules[0]);
    const o = await app.inject({ method: 'POST', url: '/orders', payload: { ...good, clientOrderId: 'limits-1', quantity: '4' } });
    expect(o.json()).toMatchObject({ status: 'Rejected', rejectReason: 'MAX_ORDER_QTY', rejectDetail: { scope: 'account:FIRM-1', limit: '3' } });
    await node.journal.flush();
    const { Journal } = await import('../../src/engine/journal.js');
    const changes = [...Journal.read(node.journal.dir, { toSeq: node.journal.durableSeq })].filter((e) => e.payload.type === 'risk.limitsChanged');
    expect(changes).toHaveLength(1);
    expect(changes[0]!.payload).toMatchObject({ reason: 'tighten for test', actor: { id: 'dev-risk', role: 'risk_manager', channel: 'api' } });
    // put the old limits back for the other tests
    await app.inject({ method: 'PUT', url: '/risk/limits', payload: { reason: 'restore', config: current }, headers: { authorization: 'Bearer dev-risk' } });
  });

  it('lists positions, fills, portfolio, instruments and strategies; starts and pauses strategies', async () => {
    const fills = (await app.inject({ method: 'GET', url: '/fills' })).json();
    expect(fills.length).toBeGreaterThan(0);
    expect(Object.keys(fills[0])).toEqual(expect.arrayContaining(['orderId', 'symbol', 'venue', 'side', 'quantity', 'price', 'fee', 'ts']));
    const positions = (await app.inject({ method: 'GET', url: '/positions' })).json();
    expect(Object.keys(positions[0])).toEqual(expect.arrayContaining(['account', 'strategyId', 'symbol', 'quantity', 'averagePrice', 'realizedPnl', 'unrealizedPnl']));
    const pf = (await app.inject({ method: 'GET', url: '/portfolio' })).json();
    expect(pf.accounts[0].account).toBe('FIRM-1');
    const inst = (await app.inject({ method: 'GET', url: '/instruments' })).json();
    expect(inst.length).toBeGreaterThanOrEqual(10);
    const pause = await app.inject({ method: 'POST', url: '/strategies/mm-simx/pause', payload: { reason: 'test' } });
    expect(pause.statusCode).toBe(200);
    expect(pause.json().state).toBe('paused');
    const start = await app.inject({ method: 'POST', url: '/strategies/mm-simx/start' });
    expect(start.json().state).toBe('running');
    expect((await app.inject({ method: 'POST', url: '/strategies/nope/start' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'POST', url: '/strategies/mm-simx/explode' })).statusCode).toBe(404);
    const strategies = (await app.inject({ method: 'GET', url: '/strategies' })).json();
    expect(strategies.map((s: { id: string }) => s.id)).toContain('mom-simy');
  });
});
