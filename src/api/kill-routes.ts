/**
 * Kill-switch channels over HTTP: the REST endpoints (console and CLI use them too) and a telephone
 * line — an IVR webhook compatible with Twilio Programmable Voice that gathers an operator number
 * and PIN by keypad and, when both are right and the operator may, pulls the firm-wide kill.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { KILL_SCOPES } from '../risk/kill-switch.js';
import { actorOf, HttpError, parseBody, requireRole, type ApiContext } from './http.js';

const killSchema = z
  .object({
    scope: z.enum(KILL_SCOPES),
    id: z.string().min(1).max(64).optional(),
    reason: z.string().min(1, 'is required: say why').max(500),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.scope === 'firm' && b.id !== undefined) ctx.addIssue({ code: 'custom', path: ['id'], message: 'must be absent for a firm-wide kill' });
    if (b.scope !== 'firm' && b.id === undefined) ctx.addIssue({ code: 'custom', path: ['id'], message: `is required for a ${b.scope} kill` });
  });

const resetSchema = z
  .object({
    activationId: z.string().regex(/^K\d+$/, 'must be an activation id such as "K1"').optional(),
    reason: z.string().min(1, 'is required: say why').max(500),
  })
  .strict();

function xml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

function twiml(body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Response>${body}</Response>`;
}

/** Twilio request signature: base64 HMAC-SHA1 over the full URL followed by the sorted POST params. */
export function twilioSignature(authToken: string, url: string, params: Record<string, string>): string {
  const data = url + Object.keys(params).sort().map((k) => k + params[k]).join('');
  return createHmac('sha1', authToken).update(data).digest('base64');
}

export interface IvrOptions {
  /** Twilio auth token; when set, unsigned or badly signed webhook calls are refused */
  authToken?: string;
  /** public base URL Twilio calls (for signature checking), e.g. https://bulwark.example.com */
  publicUrl?: string;
}

export function registerKillRoutes(app: FastifyInstance, ctx: ApiContext, ivr: IvrOptions = {}): void {
  const { node } = ctx;
  const ks = node.kernel.killSwitch;

  app.get('/kill-switch', async () => {
    const all = ks.activations.map((a) => ks.view(a));
    return { active: all.some((a) => a.status !== 'RESET'), activations: all.filter((a) => a.status !== 'RESET'), history: all };
  });

  app.post('/kill-switch', async (req, reply) => {
    const u = requireRole(ctx, req, 'trader', 'risk_manager', 'senior_management');
    const body = parseBody(killSchema, req.body);
    const channel = (req.headers['x-bulwark-channel'] as string | undefined) === 'cli' ? 'cli' : (req.headers['x-bulwark-channel'] as string | undefined) === 'console' ? 'console' : 'api';
    const s = await node.command({ type: 'cmd.kill', actor: actorOf(req, u, channel), scope: { type: body.scope, ...(body.id ? { id: body.id } : {}) }, reason: body.reason });
    if (s.result.error) throw new HttpError(s.result.error.code === 'FORBIDDEN' ? 403 : 409, s.result.error.code.toLowerCase(), s.result.error.detail.reason ?? s.result.error.code);
    const a = ks.activations.find((x) => x.id === s.result.kill)!;
    return reply.status(202).send(ks.view(a));
  });

  app.post('/kill-switch/reset', async (req) => {
    const u = requireRole(ctx, req, 'risk_manager', 'senior_management');
    const body = parseBody(resetSchema, req.body);
    const open = ks.activations.filter((a) => a.status !== 'RESET');
    let id = body.activationId;
    if (id === undefined) {
      if (open.length !== 1) throw new HttpError(400, 'bad_request', `activationId: is required when ${open.length} activations are open`, 'activationId');
      id = open[0]!.id;
    }
    const s = await node.command({ type: 'cmd.kill.reset', actor: actorOf(req, u, (req.headers['x-bulwark-channel'] as string | undefined) ?? 'api'), activationId: id, reason: body.reason });
    if (s.result.error) {
      const code = s.result.error.code;
      throw new HttpError(code === 'FORBIDDEN' ? 403 : code === 'UNKNOWN_ACTIVATION' ? 404 : 409, code.toLowerCase(), `${code}: ${s.result.error.detail.reason ?? s.result.error.detail.activationId ?? ''}`.trim());
    }
    const a = ks.activations.find((x) => x.id === id)!;
    return { ...ks.view(a), ...(s.result.awaiting ? { awaiting: s.result.awaiting } : {}) };
  });

  // ---------------------------------------------------------------- telephone (Twilio-compatible IVR)

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    } catch (e) {
      done(e as Error, undefined);
    }
  });

  const checkSignature = (req: FastifyRequest): void => {
    if (!ivr.authToken) return;
    const sig = req.headers['x-twilio-signature'];
    const url = (ivr.publicUrl ?? `http://${req.headers.host}`) + req.url;
    const want = twilioSignature(ivr.authToken, url, (req.body ?? {}) as Record<string, string>);
    if (typeof sig !== 'string' || sig.length !== want.length || !timingSafeEqual(Buffer.from(sig), Buffer.from(want))) {
      throw new HttpError(403, 'forbidden', 'X-Twilio-Signature: missing or invalid');
    }
  };

  const attempts = (req: FastifyRequest) => {
    const n = Number((req.query as Record<string, string>).attempt ?? '1');
    return Number.isInteger(n) && n > 0 && n < 10 ? n : 1;
  };

  app.post('/ivr/voice', async (req, reply) => {
    checkSignature(req);
    const a = attempts(req);
    reply.type('text/xml');
    return twiml(
      `<Gather input="dtmf" numDigits="4" timeout="10" action="/ivr/operator?attempt=${a}" method="POST">` +
        `<Say>Bulwark emergency line. This line activates the firm-wide kill switch. Enter your four digit operator number.</Say></Gather>` +
        `<Say>No input received. Goodbye.</Say><Hangup/>`,
    );
  });

  app.post('/ivr/operator', async (req, reply) => {
    checkSignature(req);
    const a = attempts(req);
    const digits = String((req.body as Record<string, string> | undefined)?.Digits ?? '');
    reply.type('text/xml');
    if (!/^\d{4}$/.test(digits)) return twiml(`<Say>Operator number not recognised.</Say><Redirect method="POST">/ivr/voice?attempt=${a + 1}</Redirect>`);
    return twiml(
      `<Gather input="dtmf" numDigits="4" timeout="10" action="/ivr/pin?op=${digits}&amp;attempt=${a}" method="POST"><Say>Enter your PIN.</Say></Gather>` +
        `<Say>No input received. Goodbye.</Say><Hangup/>`,
    );
  });

  app.post('/ivr/pin', async (req, reply) => {
    checkSignature(req);
    const a = attempts(req);
    const q = req.query as Record<string, string>;
    const body = (req.body ?? {}) as Record<string, string>;
    const op = String(q.op ?? '');
    const pin = String(body.Digits ?? '');
    reply.type('text/xml');
    const user = /^\d{4}$/.test(op) && /^\d{4,8}$/.test(pin) ? ctx.users.checkOperatorPin(op, pin) : undefined;
    const caller = String(body.From ?? 'unknown');
    if (!user || (user.role !== 'risk_manager' && user.role !== 'senior_management')) {
      node.submitQuiet({ type: 'system.note', event: 'ivr.authFailed', detail: { operator: op, caller, attempt: a } });
      if (a >= 3) return twiml('<Say>Not authorised. This call has been recorded. Goodbye.</Say><Hangup/>');
      return twiml(`<Say>Not authorised.</Say><Redirect method="POST">/ivr/voice?attempt=${a + 1}</Redirect>`);
    }
    const s = await node.command({
      type: 'cmd.kill',
      actor: { id: user.id, role: user.role, channel: 'phone', address: caller },
      scope: { type: 'firm' },
      reason: `telephone kill by operator ${op} from ${caller}`,
    });
    if (s.result.error) return twiml(`<Say>${xml('The kill switch was refused: ' + s.result.error.code)}</Say><Hangup/>`);
    return twiml(`<Say>Firm-wide kill switch activated, reference ${xml(s.result.kill!)}. All strategies are stopped and all orders are being cancelled.</Say><Hangup/>`);
  });
}
