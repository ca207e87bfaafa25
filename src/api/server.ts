/**
 * REST API (fastify). JSON in and out; decimals travel as strings. Every request body is validated
 * at the boundary: a malformed one gets a 400 that names the field and changes nothing. Commands go
 * through the sequencer like every other input and are acknowledged only once durable.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { formatDecimal } from '../core/fixed.js';
import type { Actor } from '../core/types.js';
import type { BulwarkNode } from '../engine/node.js';
import { orderToWire, fillToWire } from '../oms/order.js';
import { isOpen } from '../oms/order-state.js';
import { unrealizedPnl, averagePrice } from '../portfolio/portfolio.js';
import { riskConfigSchema } from '../risk/config.js';
import { hasRole } from './auth.js';
import { instrumentSnap } from '../engine/snapshots/kernel-snapshot.js';
import { actorOf, authenticate, HttpError, intParam, parseBody, requireRole, type ApiContext } from './http.js';

export { actorOf, authenticate, HttpError, parseBody, requireRole, type ApiContext };
import { registerKillRoutes } from './kill-routes.js';
import { databaseRoutes } from '../storage/routes.js';
import { registerAuditRoutes } from '../audit/api.js';
import { reconRoutes } from './recon-routes.js';

const decimal = z.string().regex(/^\d{1,20}(\.\d{1,8})?$/, 'must be a positive decimal string with at most 8 decimals, e.g. "100.25"');

export const orderRequestSchema = z
  .object({
    symbol: z.string().min(1).max(32),
    venue: z.string().min(1).max(16),
    side: z.enum(['buy', 'sell']),
    type: z.enum(['limit', 'market']),
    quantity: decimal,
    price: decimal.optional(),
    timeInForce: z.enum(['DAY', 'GTC', 'IOC', 'FOK']).default('DAY'),
    clientOrderId: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'must be 1-64 characters A-Z a-z 0-9 . _ : -'),
    account: z.string().min(1).max(64),
    strategyId: z.string().min(1).max(64).optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.type === 'limit' && o.price === undefined) ctx.addIssue({ code: 'custom', path: ['price'], message: 'is required for a limit order' });
    if (o.type === 'market' && o.price !== undefined) ctx.addIssue({ code: 'custom', path: ['price'], message: 'must be absent for a market order' });
  });

const replaceSchema = z
  .object({ quantity: decimal.optional(), price: decimal.optional() })
  .strict()
  .refine((r) => r.quantity !== undefined || r.price !== undefined, { message: 'quantity or price is required', path: ['quantity'] });

const reasonSchema = z.object({ reason: z.string().max(500).optional() }).strict();

const limitsPutSchema = z.object({ reason: z.string().min(1).max(500), config: riskConfigSchema }).strict();
const statePutSchema = z
  .object({
    scope: z.string().regex(/^(firm|(account|trader|strategy|symbol):[A-Za-z0-9._/-]{1,64})$/, 'must be "firm" or "<account|trader|strategy|symbol>:<id>"'),
    state: z.enum(['ACTIVE', 'REDUCING', 'HALTED']),
    reason: z.string().min(1).max(500),
  })
  .strict();

/** Order entry: in dev an anonymous caller may trade; elsewhere a trader or risk manager token is required. */
function orderActor(ctx: ApiContext, req: FastifyRequest): Actor {
  const u = authenticate(ctx, req);
  if (!u && ctx.node.config.environment !== 'dev') throw new HttpError(401, 'unauthorized', 'Authorization: a bearer token is required', 'authorization');
  if (u && !hasRole(u, 'trader', 'risk_manager', 'senior_management')) throw new HttpError(403, 'forbidden', `role ${u.role} may not enter orders`);
  return actorOf(req, u);
}

export async function buildApi(ctx: ApiContext): Promise<FastifyInstance> {
  const { node } = ctx;
  const k = node.kernel;
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof HttpError) {
      // refused access is part of the audit trail: who tried what, from where
      if (err.status === 401 || err.status === 403) node.submitQuiet({ type: 'system.note', event: 'api.denied', detail: { method: req.method, url: req.url, status: err.status, address: req.ip, message: err.message } });
      return reply.status(err.status).send({ error: err.code, message: err.message, ...(err.field ? { field: err.field } : {}), ...(err.extra ?? {}) });
    }
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) node.submitQuiet({ type: 'system.note', event: 'api.error', detail: { message: err.message, method: req.method, url: req.url, address: req.ip } });
    const field = err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'content-type' : err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || /JSON/.test(err.message) ? 'body' : undefined;
    return reply.status(status).send({ error: status >= 500 ? 'internal_error' : 'bad_request', message: err.message, ...(field ? { field } : {}) });
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ error: 'not_found', message: `${req.method} ${req.url} does not exist` }));

  const submit = async (input: Parameters<BulwarkNode['command']>[0]) => {
    if (node.isStopping) throw new HttpError(503, 'stopping', 'the node is shutting down');
    return node.command(input);
  };

  app.get('/health', async (_req, reply) => {
    const venues: Record<string, { status: string; connected: boolean; feed: unknown }> = {};
    for (const [id, v] of node.venues) venues[id] = { status: v.connected ? 'up' : 'down', connected: v.connected, feed: node.feeds.get(id)?.stats ?? null };
    const journalOk = node.journal.error === undefined;
    const strategies: Record<string, string> = {};
    for (const [id, rt] of k.strategies) strategies[id] = rt.state;
    const database = node.database?.status() ?? { status: 'disabled' as const };
    const audit = node.audit?.status ?? { status: 'disabled' as const };
    // Trading goes on through each of these (the journal is the record), so 200, but not 'ok':
    // a monitor must see what is impaired without reading every component.
    const degraded: string[] = [];
    for (const [id, v] of Object.entries(venues)) if (!v.connected) degraded.push(`venue ${id} disconnected`);
    if (database.status === 'down' || database.status === 'lagging') degraded.push(`database ${database.status}`);
    if (audit.status === 'down' || audit.status === 'degraded') degraded.push(`audit ${audit.status}`);
    const status = !journalOk ? 'down' : node.isStopping ? 'stopping' : degraded.length > 0 ? 'degraded' : 'ok';
    return reply.status(status === 'down' ? 503 : 200).send({
      status,
      ...(degraded.length > 0 ? { degraded } : {}),
      nodeId: node.config.nodeId,
      environment: node.config.environment,
      uptimeSeconds: Math.round((Date.now() - node.startedAt) / 1000),
      components: {
        journal: { status: journalOk ? 'up' : 'down', lastSeq: node.journal.lastSeq, durableSeq: node.journal.durableSeq, backpressure: node.journal.backpressure, ...(journalOk ? {} : { error: node.journal.error!.message }) },
        core: { status: 'up', inputs: k.inputsProcessed, lastInputSeq: k.lastInputSeq, outboxDepth: node.sequencer.outboxDepth },
        venues,
        strategies,
        risk: { status: 'up', firmState: k.risk.stateOf('firm') },
        api: { status: 'up' },
        database,
        audit,
      },
    });
  });

  await app.register(databaseRoutes, { reader: () => node.database?.reader });

  app.get('/instruments', async () =>
    k.instruments.all().map((i) => ({
      ...instrumentSnap(i).spec,
      halted: k.md.isHalted(i.venue, i.symbol),
      quote: (() => {
        const q = k.md.quote(i.venue, i.symbol);
        return q ? k.quoteView(q) : null;
      })(),
    })),
  );

  app.get('/strategies', async () =>
    [...k.strategies.values()].map((rt) => ({
      id: rt.spec.id,
      class: rt.spec.class,
      account: rt.spec.account,
      traderId: rt.spec.traderId ?? null,
      state: rt.state,
      subscriptions: rt.subs,
      params: rt.spec.params,
      openOrders: k.oms.openOrders((o) => o.strategyId === rt.spec.id).length,
    })),
  );

  app.post<{ Params: { id: string; action: string } }>('/strategies/:id/:action', async (req, reply) => {
    const action = req.params.action;
    if (action !== 'start' && action !== 'stop' && action !== 'pause') throw new HttpError(404, 'not_found', `action: "${action}" is not start, stop or pause`, 'action');
    const body = parseBody(reasonSchema, req.body ?? {});
    const u = authenticate(ctx, req);
    if (!u && node.config.environment !== 'dev') throw new HttpError(401, 'unauthorized', 'Authorization: a bearer token is required', 'authorization');
    if (u && !hasRole(u, 'trader', 'risk_manager', 'senior_management')) throw new HttpError(403, 'forbidden', `role ${u.role} may not control strategies`);
    const rt = k.strategies.get(req.params.id);
    if (!rt) throw new HttpError(404, 'not_found', `strategy "${req.params.id}" does not exist`, 'id');
    if (u?.role === 'trader' && rt.spec.traderId !== undefined && rt.spec.traderId !== u.id) throw new HttpError(403, 'forbidden', `trader ${u.id} does not own strategy ${rt.spec.id}`);
    const s = await submit({ type: 'cmd.strategy', actor: actorOf(req, u), strategyId: req.params.id, action, reason: body.reason ?? `${action} via API` });
    if (s.result.error) return reply.status(409).send({ error: s.result.error.code, message: `strategy ${req.params.id}: ${s.result.error.code}`, detail: s.result.error.detail });
    return { id: rt.spec.id, state: rt.state };
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/orders', async (req) => {
    const q = req.query;
    const limit = intParam(q.limit, 'limit', 500, 1, 100_000);
    const src = q.status === 'open' ? k.oms.open.values() : k.oms.orders.values();
    const out = [];
    for (const o of src) {
      if (q.status && q.status !== 'open' && o.status !== q.status) continue;
      if (q.strategyId && o.strategyId !== q.strategyId) continue;
      if (q.symbol && o.symbol !== q.symbol) continue;
      if (q.venue && o.venue !== q.venue) continue;
      if (q.account && o.account !== q.account) continue;
      out.push(o);
    }
    // newest first
    return out.slice(-limit).reverse().map(orderToWire);
  });

  app.get<{ Params: { id: string } }>('/orders/:id', async (req) => {
    const o = k.oms.get(req.params.id);
    if (!o) throw new HttpError(404, 'not_found', `order "${req.params.id}" does not exist`, 'id');
    return orderToWire(o);
  });

  app.post('/orders', async (req, reply) => {
    const body = parseBody(orderRequestSchema, req.body);
    const actor = orderActor(ctx, req);
    const s = await submit({
      type: 'cmd.order.new',
      actor,
      order: { ...body, ...(actor.role === 'trader' ? { traderId: actor.id } : {}) },
    });
    if (s.result.error) throw new HttpError(400, 'bad_request', `${s.result.error.code}: ${JSON.stringify(s.result.error.detail)}`, undefined, { code: s.result.error.code, detail: s.result.error.detail });
    const o = s.result.order!;
    return reply.status(o.status === 'Rejected' ? 422 : 201).send(orderToWire(o));
  });

  app.delete<{ Params: { id: string } }>('/orders/:id', async (req, reply) => {
    const actor = orderActor(ctx, req);
    const o = k.oms.get(req.params.id);
    if (!o) throw new HttpError(404, 'not_found', `order "${req.params.id}" does not exist`, 'id');
    if (!isOpen(o.status)) throw new HttpError(409, 'ORDER_NOT_OPEN', `order ${o.id} is ${o.status}`);
    const s = await submit({ type: 'cmd.order.cancel', actor, orderId: o.id });
    if (s.result.error) return reply.status(409).send({ error: s.result.error.code, message: `cancel refused: ${s.result.error.code}`, detail: s.result.error.detail });
    return reply.status(202).send(orderToWire(k.oms.get(o.id)!));
  });

  app.post<{ Params: { id: string } }>('/orders/:id/replace', async (req, reply) => {
    const body = parseBody(replaceSchema, req.body);
    const actor = orderActor(ctx, req);
    const o = k.oms.get(req.params.id);
    if (!o) throw new HttpError(404, 'not_found', `order "${req.params.id}" does not exist`, 'id');
    const s = await submit({ type: 'cmd.order.replace', actor, orderId: o.id, ...body });
    if (s.result.error) return reply.status(409).send({ error: s.result.error.code, message: `replace refused: ${s.result.error.code}`, detail: s.result.error.detail });
    return reply.status(202).send(orderToWire(k.oms.get(o.id)!));
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/fills', async (req) => {
    const q = req.query;
    const limit = intParam(q.limit, 'limit', 500, 1, 100_000);
    const out = [];
    const fills = k.oms.fills;
    for (let i = fills.length - 1; i >= 0 && out.length < limit; i--) {
      const f = fills[i]!;
      if (q.strategyId && f.strategyId !== q.strategyId) continue;
      if (q.symbol && f.symbol !== q.symbol) continue;
      if (q.orderId && f.orderId !== q.orderId) continue;
      out.push(fillToWire(f));
    }
    return out;
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/positions', async (req) => {
    const q = req.query;
    const out = [];
    for (const p of k.portfolio.positions.values()) {
      if (q.account && p.account !== q.account) continue;
      if (q.strategyId && p.strategyId !== q.strategyId) continue;
      if (q.symbol && p.symbol !== q.symbol) continue;
      out.push(k.portfolio.toWire(p, k.md.mark(p.symbol)));
    }
    return out;
  });

  app.get('/portfolio', async () => {
    const accounts = [];
    for (const a of k.portfolio.accounts.values()) {
      let realized = 0n, unrealized = 0n, fees = 0n, gross = 0n, net = 0n;
      for (const p of k.portfolio.positions.values()) {
        if (p.account !== a.account) continue;
        realized += p.realizedPnl;
        fees += p.fees;
        const mark = k.md.mark(p.symbol) ?? averagePrice(p) ?? 0n;
        const u = unrealizedPnl(p, mark);
        unrealized += u;
        const mv = (p.quantity * mark) / 100_000_000n;
        gross += mv < 0n ? -mv : mv;
        net += mv;
      }
      accounts.push({
        account: a.account,
        currency: a.currency,
        startingCash: formatDecimal(a.startingCash),
        cash: formatDecimal(a.cash),
        realizedPnl: formatDecimal(realized),
        unrealizedPnl: formatDecimal(unrealized),
        fees: formatDecimal(fees),
        netPnl: formatDecimal(realized + unrealized - fees),
        grossExposure: formatDecimal(gross),
        netExposure: formatDecimal(net),
        equity: formatDecimal(a.cash + net),
      });
    }
    return { accounts, openOrders: k.oms.open.size, fills: k.oms.fills.length, tradingState: k.risk.stateOf('firm') };
  });

  app.get('/risk/limits', async () => k.risk.currentConfig);

  app.put('/risk/limits', async (req, reply) => {
    const u = requireRole(ctx, req, 'risk_manager', 'senior_management');
    const body = parseBody(limitsPutSchema, req.body);
    const s = await submit({ type: 'cmd.risk.limits', actor: actorOf(req, u), reason: body.reason, config: body.config });
    if (s.result.error) throw new HttpError(400, 'bad_request', s.result.error.detail.message ?? s.result.error.code, 'config');
    return reply.status(200).send(k.risk.currentConfig);
  });

  app.get('/risk/state', async () => ({ scopes: k.risk.stateView(), rejections: Object.fromEntries(k.risk.rejections) }));

  app.put('/risk/state', async (req) => {
    const u = requireRole(ctx, req, 'risk_manager', 'senior_management');
    const body = parseBody(statePutSchema, req.body);
    await submit({ type: 'cmd.risk.state', actor: actorOf(req, u), reason: body.reason, scope: body.scope, state: body.state });
    return { scope: body.scope, state: k.risk.stateOf(body.scope) };
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/alerts', async (req) => {
    const limit = intParam(req.query.limit, 'limit', 200, 1, 10_000);
    return k.risk.alerts.slice(-limit).reverse();
  });

  registerKillRoutes(app, ctx, ctx.ivr ?? {});
  registerAuditRoutes(app, ctx);
  await app.register(reconRoutes, { ctx });
  return app;
}

export type { FastifyReply };
