/**
 * Users, roles and bearer tokens. In the dev environment five well-known users exist whose tokens
 * are their names; any other environment refuses to start if those tokens are configured, and takes
 * users (with SHA-256 hashes of their tokens) from configuration or the secret store.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export const ROLES = ['trader', 'risk_manager', 'senior_management', 'compliance', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface User {
  id: string;
  role: Role;
  /** SHA-256 hex of the bearer token */
  tokenSha256: string;
  /** four-digit operator number and keypad PIN hash for the telephone channel */
  operatorCode?: string;
  pinSha256?: string;
}

export const DEV_USERS: readonly { id: string; role: Role }[] = [
  { id: 'dev-trader', role: 'trader' },
  { id: 'dev-risk', role: 'risk_manager' },
  { id: 'dev-senior', role: 'senior_management' },
  { id: 'dev-compliance', role: 'compliance' },
  { id: 'dev-admin', role: 'admin' },
];

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export class UserDirectory {
  private readonly byHash = new Map<string, User>();
  private readonly byId = new Map<string, User>();

  constructor(users: User[]) {
    for (const u of users) {
      this.byHash.set(u.tokenSha256, u);
      this.byId.set(u.id, u);
    }
  }

  static forEnvironment(environment: string, users: User[]): UserDirectory {
    const devTokens = new Set(DEV_USERS.map((u) => sha256Hex(u.id)));
    if (environment !== 'dev') {
      const bad = users.find((u) => devTokens.has(u.tokenSha256) || DEV_USERS.some((d) => d.id === u.id));
      if (bad) throw new Error(`users: the development user "${bad.id}" must not exist in the ${environment} environment`);
      return new UserDirectory(users);
    }
    // dev telephone credentials: operator 1000 + index, PIN 9000 + index (dev-risk: 1001 / 9001); in the README
    const dev = DEV_USERS.map((u, i) => ({ ...u, tokenSha256: sha256Hex(u.id), operatorCode: String(1000 + i), pinSha256: sha256Hex(String(9000 + i)) }));
    return new UserDirectory([...dev, ...users]);
  }

  authenticate(token: string): User | undefined {
    const h = sha256Hex(token);
    const u = this.byHash.get(h);
    if (!u) return undefined;
    // constant-time confirmation of the hash match
    return timingSafeEqual(Buffer.from(h), Buffer.from(u.tokenSha256)) ? u : undefined;
  }

  get(id: string): User | undefined {
    return this.byId.get(id);
  }

  checkOperatorPin(operatorCode: string, pin: string): User | undefined {
    const u = [...this.byId.values()].find((x) => x.operatorCode === operatorCode);
    if (!u?.pinSha256) return undefined;
    const h = sha256Hex(pin);
    return timingSafeEqual(Buffer.from(h), Buffer.from(u.pinSha256)) ? u : undefined;
  }

  all(): User[] {
    return [...this.byId.values()];
  }
}

export function hasRole(u: User | undefined, ...roles: Role[]): boolean {
  return u !== undefined && roles.includes(u.role);
}
