/**
 * REST endpoints for the dashboard, served from the database (not from the core's memory), as a
 * fastify plugin: `app.register(databaseRoutes, { reader: () => node.database?.reader })`.
 *
 *   GET /db/orders/open?strategyId=&account=&limit=
 *   GET /db/orders/today?strategyId=&account=&limit=
 *   GET /db/fills/today?strategyId=&account=&limit=
 *   GET /db/fills/today/summary
 *   GET /db/positions?account=&strategyId=
 *   GET /db/pnl?interval=hour|day&strategyId=|account=&from=&to=
 *
 * A bad parameter gets a 400 naming it; no database (disabled, down, stopping) a 503.
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { z } from 'zod';
import { parseIntParam } from '../api/http.js';
import { DatabaseUnavailableError, type DbReader } from './database.js';
import { currentPositions, openOrders, pnlSeries, todaysFills, todaysFillSummary, todaysOrders } from './queries.js';

export interface DatabaseRoutesOptions {
  /** The node's reader, or undefined when the database is disabled. */
  reader: () => DbReader | undefined;
}

const idParam = z.string().regex(/^[A-Za-z0-9._:-]{0,64}$/, 'must be at most 64 characters A-Z a-z 0-9 . _ : -');
/** The API's integer rule (parseIntParam): "", "1e3", "0x10" and " 5" are refused, not coerced. */
const limitParam = z
  .string()
  .refine((v) => parseIntParam(v, 1, 10_000) !== undefined, 'must be an integer 1-10000')
  .transform(Number);
const timeParam = z
  .string()
  .refine((v) => !Number.isNaN(Date.parse(v)), 'must be an ISO-8601 time')
  .transform((v) => new Date(v));

const filterSchema = z.object({ strategyId: idParam.optional(), account: idParam.optional(), limit: limitParam.optional() }).strict();
const positionsSchema = z.object({ strategyId: idParam.optional(), account: idParam.optional() }).strict();
const pnlSchema = z
  .object({
    interval: z.enum(['hour', 'day']).default('hour'),
    strategyId: idParam.optional(),
    account: idParam.optional(),
    from: timeParam.optional(),
    to: timeParam.optional(),
    limit: limitParam.optional(),
  })
  .strict();

class BadParam extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}

function parse<T>(schema: z.ZodType<T>, query: unknown): T {
  const r = schema.safeParse(query ?? {});
  if (r.success) return r.data;
  const i = r.error.issues[0]!;
  if (i.code === 'unrecognized_keys') {
    const key = (i as { keys: string[] }).keys[0] ?? 'query';
    throw new BadParam(key, 'is not a known parameter');
  }
  throw new BadParam(i.path.map(String).join('.') || 'query', i.message);
}

/** Drops undefined fields: the query functions take optional properties, not undefined values. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export const databaseRoutes: FastifyPluginAsync<DatabaseRoutesOptions> = async (app, opts) => {
  const handle = async (reply: FastifyReply, run: (db: DbReader) => Promise<unknown>): Promise<FastifyReply> => {
    const db = opts.reader();
    if (db === undefined) return reply.status(503).send({ error: 'database_unavailable', message: 'the database is disabled on this node' });
    try {
      return reply.send(await run(db));
    } catch (e) {
      if (e instanceof BadParam) return reply.status(400).send({ error: 'bad_request', message: e.message, field: e.field });
      if (e instanceof DatabaseUnavailableError) return reply.status(503).send({ error: 'database_unavailable', message: e.message });
      throw e;
    }
  };

  app.get('/db/orders/open', (req, reply) => handle(reply, (db) => openOrders(db, defined(parse(filterSchema, req.query)))));
  app.get('/db/orders/today', (req, reply) => handle(reply, (db) => todaysOrders(db, defined(parse(filterSchema, req.query)))));
  app.get('/db/fills/today', (req, reply) => handle(reply, (db) => todaysFills(db, defined(parse(filterSchema, req.query)))));
  app.get('/db/fills/today/summary', (_req, reply) => handle(reply, (db) => todaysFillSummary(db)));
  app.get('/db/positions', (req, reply) => handle(reply, (db) => currentPositions(db, defined(parse(positionsSchema, req.query)))));
  app.get('/db/pnl', (req, reply) =>
    handle(reply, (db) => {
      const q = parse(pnlSchema, req.query);
      if (q.strategyId !== undefined && q.account !== undefined) throw new BadParam('account', 'give strategyId or account, not both');
      return pnlSeries(db, defined(q));
    }),
  );
};
