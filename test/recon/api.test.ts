/**
 * GET /reconciliation, POST /reconciliation/run, GET /recovery, and `bulwark recon` against a
 * running node's API (the built CLI, like `bulwark kill`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../src/api/server.js';
import { UserDirectory } from '../../src/api/auth.js';
import { BulwarkNode } from '../../src/engine/node.js';
import { nodeConfig, tempDir } from '../helpers.js';

const CLI = new URL('../../bin/bulwark.js', import.meta.url).pathname;
const BUILT = new URL('../../dist/src/cli/recon.js', import.meta.url).pathname;

/** Runs the CLI without blocking this process's event loop (the API under test lives in it). */
function cli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('reconciliation API and CLI', () => {
  let node: BulwarkNode;
  let app: FastifyInstance;
  let base = '';
  const t = tempDir();

  beforeAll(async () => {
    node = await BulwarkNode.start(nodeConfig(t.dir, { database: { enabled: false }, reconciliation: { intervalMs: 3_600_000 } }));
    app = await buildApi({ node, users: UserDirectory.forEnvironment('dev', []) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    await app.close();
    await node.stop('test');
    t.cleanup();
  });

  it('runs on request with a risk token, refuses without one, and shows the latest report', async () => {
    expect((await app.inject({ method: 'POST', url: '/reconciliation/run', payload: {} })).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/reconciliation/run', headers: { authorization: 'Bearer dev-trader' }, payload: {} })).statusCode).toBe(403);
    expect((await app.inject({ method: 'POST', url: '/reconciliation/run', headers: { authorization: 'Bearer dev-risk' }, payload: { kind: 'nightly' } })).statusCode).toBe(400);
    const r = await app.inject({ method: 'POST', url: '/reconciliation/run', headers: { authorization: 'Bearer dev-risk' }, payload: { kind: 'full' } });
    expect(r.statusCode).toBe(200);
    const report = r.json();
    expect(report).toMatchObject({ kind: 'full', actor: { id: 'dev-risk', role: 'risk_manager' } });
    expect(report.venues.map((v: { venue: string }) => v.venue)).toEqual(['SIMX', 'SIMY']);
    const g = (await app.inject({ method: 'GET', url: '/reconciliation' })).json();
    expect(g.latest.runId).toBe(report.runId);
    expect(g.history[0].runId).toBe(report.runId);
    const rec = (await app.inject({ method: 'GET', url: '/recovery' })).json();
    expect(rec.gate.active).toBe(false);
    expect(rec.recovered.recovery.snapshot).toBeNull();
  });

  it('`bulwark recon run` and `bulwark recon show` talk to the running node', async () => {
    if (!existsSync(BUILT)) throw new Error('dist/ is missing or stale: run `npm run build` (npm test does it first)');
    const run = await cli(['recon', 'run', '--url', base, '--token', 'dev-risk', '--reason', 'test']);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^reconciliation R\S+ \(manual\): (clean|corrected|breaks)/);
    expect(run.stdout).toMatch(/SIMX FIRM-1: \d+ open order\(s\)/);
    const show = await cli(['recon', 'show', '--url', base, '--json']);
    expect(JSON.parse(show.stdout).kind).toBe('manual');
    const noToken = await cli(['recon', 'run', '--url', base], { ...process.env, BULWARK_TOKEN: '' });
    expect(noToken.status).toBe(2);
    expect(noToken.stderr).toMatch(/--token/);
  });
});
