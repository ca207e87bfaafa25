/**
 * Reconciliation and recovery over HTTP (a fastify plugin):
 *   GET  /reconciliation      the latest report, recent runs, the reconciler's counters
 *   POST /reconciliation/run  run one now ({"kind":"manual"|"full"}); answers with its report
 *   GET  /recovery            what the node recovered at start, the recovery gate, snapshot stats
 * Running one needs a risk manager, senior management or admin token; reading is open like /health.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { actorOf, HttpError, parseBody, requireRole, type ApiContext } from './http.js';

const runSchema = z
  .object({
    kind: z.enum(['manual', 'full']).default('manual'),
    reason: z.string().max(500).optional(),
  })
  .strict();

export async function reconRoutes(app: FastifyInstance, opts: { ctx: ApiContext }): Promise<void> {
  const { ctx } = opts;
  const { node } = ctx;
  const k = node.kernel;

  app.get('/reconciliation', async () => ({
    enabled: node.reconciler !== null,
    latest: k.recon.lastReport,
    history: [...k.recon.history].reverse(),
    runs: node.reconciler?.runs ?? 0,
    failures: node.reconciler?.failures ?? 0,
    policy: node.reconciler?.policy ?? null,
  }));

  app.post('/reconciliation/run', async (req, reply) => {
    const u = requireRole(ctx, req, 'risk_manager', 'senior_management', 'admin');
    const body = parseBody(runSchema, req.body ?? {});
    if (!node.reconciler) throw new HttpError(409, 'disabled', 'reconciliation is disabled in the configuration');
    if (node.isStopping) throw new HttpError(503, 'stopping', 'the node is shutting down');
    const report = await node.reconciler.run(body.kind, actorOf(req, u, req.headers['x-bulwark-channel'] === 'cli' ? 'cli' : 'api'));
    if (!report) throw new HttpError(503, 'unavailable', 'the reconciliation could not run (see the node log)');
    return reply.status(200).send(report);
  });

  app.get('/recovery', async () => ({
    recovered: node.recovered,
    gate: k.gate.view(),
    snapshots: node.snapshotter ? { ...node.snapshotter.stats, dir: node.snapshotter.store.dir, files: node.snapshotter.store.list().map((f) => ({ name: f.name, seq: f.seq })) } : null,
  }));
}
