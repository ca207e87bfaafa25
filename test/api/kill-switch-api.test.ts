import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { execFile } from 'node:child_process';
import { buildApi } from '../../src/api/server.js';
import { UserDirectory } from '../../src/api/auth.js';
import { twilioSignature } from '../../src/api/kill-routes.js';
import { BulwarkNode } from '../../src/engine/node.js';
import { Journal } from '../../src/engine/journal.js';
import { join } from 'node:path';
import { nodeConfig, tempDir } from '../helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLI = new URL('../../bin/bulwark.js', import.meta.url).pathname;

async function waitUntil(fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('condition not met');
    await sleep(20);
  }
}

describe('kill switch channels', () => {
  const t = tempDir();
  let node: BulwarkNode;
  let app: FastifyInstance;
  let base: string;
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    node = await BulwarkNode.start(nodeConfig(t.dir));
    app = await buildApi({ node, users: UserDirectory.forEnvironment('dev', []), ivr: { authToken: 'twilio-secret', publicUrl: 'https://bulwark.example' } });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    await waitUntil(() => node.kernel.oms.open.size > 5);
  });

  afterAll(async () => {
    await app.close();
    await node.stop('test');
    t.cleanup();
  });

  it('refuses a missing token, a wrong role and a malformed body, changing nothing', async () => {
    const body = { scope: 'firm', reason: 'test' };
    expect((await app.inject({ method: 'POST', url: '/kill-switch', payload: body })).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/kill-switch', payload: body, headers: auth('not-a-token') })).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/kill-switch', payload: body, headers: auth('dev-compliance') })).statusCode).toBe(403);
    expect((await app.inject({ method: 'POST', url: '/kill-switch', payload: body, headers: auth('dev-trader') })).statusCode).toBe(403);
    const bad = await app.inject({ method: 'POST', url: '/kill-switch', payload: { scope: 'venue', reason: 'x' }, headers: auth('dev-risk') });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toBe('id');
    const bad2 = await app.inject({ method: 'POST', url: '/kill-switch', payload: { scope: 'galaxy', reason: 'x' }, headers: auth('dev-risk') });
    expect(bad2.json().field).toBe('scope');
    expect(node.kernel.killSwitch.activations).toHaveLength(0);
  });

  it('a trader kills their own strategy over REST; others keep trading', async () => {
    const r = await app.inject({ method: 'POST', url: '/kill-switch', payload: { scope: 'strategy', id: 'mm-simx', reason: 'mine' }, headers: auth('dev-trader') });
    expect(r.statusCode).toBe(202);
    await waitUntil(() => node.kernel.killSwitch.activations[0]!.status === 'COMPLETE');
    expect(node.kernel.strategyState('mm-simx')).toBe('stopped');
    expect(node.kernel.strategyState('mm-simy')).toBe('running');
    expect(node.kernel.oms.openOrders((o) => o.strategyId === 'mm-simx')).toHaveLength(0);
    const reset = await app.inject({ method: 'POST', url: '/kill-switch/reset', payload: { reason: 'done' }, headers: auth('dev-trader') });
    expect(reset.statusCode).toBe(403);
    const reset2 = await app.inject({ method: 'POST', url: '/kill-switch/reset', payload: { reason: 'done', activationId: 'K1' }, headers: auth('dev-risk') });
    expect(reset2.json().status).toBe('RESET');
  });

  it('the telephone line: wrong PIN refused; operator + PIN of a risk manager pulls the firm-wide kill', async () => {
    const form = (url: string, params: Record<string, string>, sign = true) =>
      app.inject({
        method: 'POST',
        url,
        payload: new URLSearchParams(params).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...(sign ? { 'x-twilio-signature': twilioSignature('twilio-secret', 'https://bulwark.example' + url, params) } : {}) },
      });
    expect((await form('/ivr/voice', { CallSid: 'CA1' }, false)).statusCode).toBe(403);
    const greet = await form('/ivr/voice', { CallSid: 'CA1' });
    expect(greet.headers['content-type']).toMatch(/xml/);
    expect(greet.body).toContain('<Gather input="dtmf" numDigits="4"');
    const op = await form('/ivr/operator?attempt=1', { Digits: '1001' });
    expect(op.body).toContain('action="/ivr/pin?op=1001&amp;attempt=1"');
    const wrong = await form('/ivr/pin?op=1001&attempt=1', { Digits: '0000', From: '+15550100' });
    expect(wrong.body).toContain('Not authorised');
    const trader = await form('/ivr/pin?op=1000&attempt=1', { Digits: '9000', From: '+15550100' });
    expect(trader.body).toContain('Not authorised');
    expect(node.kernel.killSwitch.active()).toHaveLength(0);
    const ok = await form('/ivr/pin?op=1001&attempt=1', { Digits: '9001', From: '+15550100' });
    expect(ok.body).toContain('Firm-wide kill switch activated');
    const a = node.kernel.killSwitch.active()[0]!;
    expect(a.scope).toEqual({ type: 'firm' });
    expect(a.actor).toMatchObject({ id: 'dev-risk', channel: 'phone', address: '+15550100' });
    await waitUntil(() => a.status === 'COMPLETE');
    // nothing open anywhere, and new orders are refused with KILL_SWITCH
    expect(node.kernel.oms.open.size).toBe(0);
    for (const v of node.simVenues) expect(await v.openOrders('FIRM-1')).toHaveLength(0);
    // the venues confirmed with one mass cancel report each; reconciliation against their execution logs finds every cancellation seen
    await node.journal.flush();
    const massReports = [...Journal.read(join(t.dir, 'journal'))].filter((r) => r.payload.type === 'exec.massCancel');
    expect(a.massCancels).toBeGreaterThan(0);
    expect(massReports.map((r) => (r.payload as unknown as { r: { requestId: string } }).r.requestId).sort()).toEqual(Array.from({ length: a.massCancels }, (_, i) => `${a.id}-${i + 1}`));
    const recon = await node.reconciler!.run('full');
    expect(recon!.counts.missing_report ?? 0).toBe(0);
    expect(recon!.counts.unknown_order ?? 0).toBe(0);
    const o = await app.inject({ method: 'POST', url: '/orders', payload: { symbol: 'AAPL', venue: 'SIMX', side: 'buy', type: 'limit', quantity: '1', price: '220', clientOrderId: 'after-kill', account: 'FIRM-1' } });
    expect(o.json()).toMatchObject({ status: 'Rejected', rejectReason: 'KILL_SWITCH' });
    const view = (await app.inject({ method: 'GET', url: '/kill-switch' })).json();
    expect(view.active).toBe(true);
    expect(view.activations[0].durationMs).toBeGreaterThan(0);
  });

  it('the CLI talks to the running node: status, a refused one-approver firm reset, then the second approver', async () => {
    // asynchronous: the node under test shares this process's event loop
    const run = (args: string[], token?: string) =>
      new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [CLI, 'kill', ...args, '--url', base], { encoding: 'utf8', env: { ...process.env, ...(token ? { BULWARK_TOKEN: token } : {}) } }, (err, stdout, stderr) => {
          resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        });
      });
    const st = await run(['status']);
    expect(st.status).toBe(0);
    expect(JSON.parse(st.stdout).active).toBe(true);
    const noReason = await run(['reset'], 'dev-risk');
    expect(noReason.status).toBe(2);
    expect(noReason.stderr).toMatch(/--reason/);
    const first = await run(['reset', '--reason', 'resolved'], 'dev-risk');
    expect(first.status).toBe(0);
    expect(JSON.parse(first.stdout).awaiting).toBe('an approver with role senior_management');
    const same = await run(['reset', '--reason', 'resolved'], 'dev-risk');
    expect(same.status).toBe(1);
    const second = await run(['reset', '--reason', 'resolved'], 'dev-senior');
    expect(second.status).toBe(0);
    expect(JSON.parse(second.stdout).status).toBe('RESET');
    const act = await run(['--scope', 'symbol', '--id', 'TSLA', '--reason', 'cli test'], 'dev-senior');
    expect(act.status).toBe(0);
    expect(JSON.parse(act.stdout)).toMatchObject({ scope: 'symbol:TSLA', actor: { channel: 'cli', id: 'dev-senior' } });
  });
});

describe('kill switch durability', () => {
  it('a restart while killed stays killed', async () => {
    const t = tempDir();
    try {
      const node = await BulwarkNode.start(nodeConfig(t.dir));
      await waitUntil(() => node.kernel.oms.open.size > 0);
      await node.command({ type: 'cmd.kill', actor: { id: 'dev-risk', role: 'risk_manager', channel: 'api' }, scope: { type: 'firm' }, reason: 'before restart' });
      await node.stop('test');
      const again = await BulwarkNode.start(nodeConfig(t.dir));
      await sleep(1500);
      expect(again.kernel.killSwitch.active()).toHaveLength(1);
      for (const rt of again.kernel.strategies.values()) expect(rt.state).toBe('stopped');
      expect(again.kernel.oms.orders.size).toBe(node.kernel.oms.orders.size);
      const s = await again.command({ type: 'cmd.order.new', actor: { id: 'x', channel: 'api' }, order: { symbol: 'AAPL', venue: 'SIMX', side: 'buy', type: 'limit', quantity: '1', price: '220', timeInForce: 'DAY', clientOrderId: 'post-restart', account: 'FIRM-1' } });
      expect(s.result.order!.rejectReason).toBe('KILL_SWITCH');
      await again.stop('test');
    } finally {
      t.cleanup();
    }
  });
});
