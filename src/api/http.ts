/**
 * What every route module shares: the error type that becomes a JSON error response, body parsing
 * that names the offending field, and authentication by bearer token with role checks.
 */
import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Actor } from '../core/types.js';
import type { BulwarkNode } from '../engine/node.js';
import { hasRole, type Role, type User, type UserDirectory } from './auth.js';
import type { IvrOptions } from './kill-routes.js';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/**
 * A query parameter's integer in [min, max], or undefined. Digits only: "", "1e3", "0x10", " 5"
 * and "2.0" are not integers here, as Number() would take most of them to be.
 */
export function parseIntParam(value: string, min: number, max: number): number | undefined {
  const n = /^(0|[1-9][0-9]{0,15})$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

/** An integer query parameter in [min, max] (parseIntParam), `dflt` when absent; else a 400 naming the field. */
export function intParam(value: string | undefined, field: string, dflt: number, min: number, max: number, message = `must be an integer ${min}-${max}`): number {
  if (value === undefined) return dflt;
  const n = parseIntParam(value, min, max);
  if (n === undefined) throw new HttpError(400, 'bad_request', `${field}: ${message}`, field);
  return n;
}

/** Parses with zod; on failure throws a 400 naming the first offending field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'bad_request', 'body: must be a JSON object', 'body');
  }
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const i = r.error.issues[0]!;
  let field = i.path.map(String).join('.');
  let message = i.message;
  if (i.code === 'unrecognized_keys') {
    field = (i as { keys: string[] }).keys[0] ?? field;
    message = 'is not a known field';
  } else if (i.code === 'invalid_type' && /received undefined/i.test(i.message)) {
    message = 'is required';
  }
  throw new HttpError(400, 'bad_request', `${field || 'body'}: ${message}`, field || 'body');
}

export interface ApiContext {
  node: BulwarkNode;
  users: UserDirectory;
  ivr?: IvrOptions;
}

export function actorOf(req: FastifyRequest, user: User | undefined, channel = 'api'): Actor {
  return { id: user?.id ?? 'anonymous', ...(user ? { role: user.role } : {}), channel, address: req.ip };
}

export function authenticate(ctx: ApiContext, req: FastifyRequest): User | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  if (!m) throw new HttpError(401, 'unauthorized', 'Authorization: must be "Bearer <token>"', 'authorization');
  const u = ctx.users.authenticate(m[1]!);
  if (!u) throw new HttpError(401, 'unauthorized', 'Authorization: unknown or revoked token', 'authorization');
  return u;
}

/** Requires a user with one of the roles (401 without a token, 403 with the wrong role). */
export function requireRole(ctx: ApiContext, req: FastifyRequest, ...roles: Role[]): User {
  const u = authenticate(ctx, req);
  if (!u) throw new HttpError(401, 'unauthorized', `Authorization: a bearer token with role ${roles.join(' or ')} is required`, 'authorization');
  if (!hasRole(u, ...roles)) throw new HttpError(403, 'forbidden', `role ${u.role} may not do this (needs ${roles.join(' or ')})`);
  return u;
}

