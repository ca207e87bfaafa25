/**
 * The Ed25519 key that signs checkpoints. Resolution order: the PEM in BULWARK_AUDIT_KEY, the file
 * named by audit.keyFile or BULWARK_AUDIT_KEY_FILE, and in dev only a key generated on first start
 * at <dataDir>/audit/signing-key.pem (mode 0600). Every public key the node has signed with is
 * written to <dataDir>/audit/keys/<keyId>.pem so that old checkpoints stay verifiable after a
 * rotation; an examiner should pin the key obtained out of band instead (verify --public-key).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicPem: string;
  keyId: string;
  /** Where it came from, for the record: 'env BULWARK_AUDIT_KEY', a file path, 'generated'. */
  source: string;
}

export interface PublicKeyInfo {
  publicKey: KeyObject;
  publicPem: string;
  keyId: string;
}

export class AuditKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditKeyError';
  }
}

/** The 32-byte raw Ed25519 public key (RFC 8032 encoding). */
export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new AuditKeyError('not an Ed25519 public key');
  return Buffer.from(jwk.x, 'base64url');
}

/** Key id: the first 8 bytes of SHA-256(raw public key), as 16 hex digits. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(rawPublicKey(publicKey)).digest('hex').slice(0, 16);
}

export function publicKeyInfo(publicKey: KeyObject): PublicKeyInfo {
  if (publicKey.asymmetricKeyType !== 'ed25519') throw new AuditKeyError(`audit keys are Ed25519, got ${publicKey.asymmetricKeyType ?? 'a symmetric key'}`);
  const pub = publicKey.type === 'private' ? createPublicKey(publicKey) : publicKey;
  return { publicKey: pub, publicPem: pub.export({ format: 'pem', type: 'spki' }).toString(), keyId: keyIdOf(pub) };
}

/** A public key from PEM (SPKI, or a private key whose public half is taken). */
export function parsePublicKey(pem: string, what: string): PublicKeyInfo {
  try {
    return publicKeyInfo(createPublicKey(pem));
  } catch (e) {
    throw new AuditKeyError(`${what}: not an Ed25519 public key in PEM (${(e as Error).message})`);
  }
}

function fromPrivatePem(pem: string, source: string): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (e) {
    throw new AuditKeyError(`${source}: not a PEM private key (${(e as Error).message})`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new AuditKeyError(`${source}: the audit signing key must be Ed25519, got ${privateKey.asymmetricKeyType}`);
  }
  const info = publicKeyInfo(createPublicKey(privateKey));
  return { privateKey, ...info, source };
}

export function auditDir(dataDir: string): string {
  return path.join(dataDir, 'audit');
}

export function devKeyFile(dataDir: string): string {
  return path.join(auditDir(dataDir), 'signing-key.pem');
}

export function publicKeysDir(dataDir: string): string {
  return path.join(auditDir(dataDir), 'keys');
}

export interface KeyResolution {
  dataDir: string;
  environment: string;
  keyFile?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Generate the dev key when missing (the node does; read-only commands do not). */
  create?: boolean;
}

/** Finds the signing key as the node would. */
export function loadSigningKey(r: KeyResolution): SigningKey {
  const env = r.env ?? process.env;
  if (env.BULWARK_AUDIT_KEY !== undefined && env.BULWARK_AUDIT_KEY.trim() !== '') {
    return fromPrivatePem(env.BULWARK_AUDIT_KEY, 'env BULWARK_AUDIT_KEY');
  }
  const file = r.keyFile ?? (env.BULWARK_AUDIT_KEY_FILE !== undefined && env.BULWARK_AUDIT_KEY_FILE !== '' ? env.BULWARK_AUDIT_KEY_FILE : undefined);
  if (file !== undefined) {
    let pem: string;
    try {
      pem = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new AuditKeyError(`audit.keyFile ${file}: ${(e as Error).message}`);
    }
    return fromPrivatePem(pem, file);
  }
  if (r.environment !== 'dev') {
    throw new AuditKeyError(
      `audit.keyFile: the ${r.environment} environment needs a checkpoint signing key (an Ed25519 PKCS#8 PEM file in audit.keyFile or BULWARK_AUDIT_KEY_FILE, or the PEM in BULWARK_AUDIT_KEY)`,
    );
  }
  const dev = devKeyFile(r.dataDir);
  if (fs.existsSync(dev)) return fromPrivatePem(fs.readFileSync(dev, 'utf8'), dev);
  if (r.create !== true) throw new AuditKeyError(`no audit signing key: ${dev} does not exist (the node generates it on first start in dev)`);
  const { privateKey } = generateKeyPairSync('ed25519');
  fs.mkdirSync(path.dirname(dev), { recursive: true });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  // 'wx': never overwrite a key that appeared meanwhile
  fs.writeFileSync(dev, pem, { mode: 0o600, flag: 'wx' });
  return { ...fromPrivatePem(pem, dev), source: `generated ${dev}` };
}

/** Records the public key next to the others ever used (idempotent). */
export function publishPublicKey(dataDir: string, key: PublicKeyInfo): string {
  const dir = publicKeysDir(dataDir);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${key.keyId}.pem`);
  if (!fs.existsSync(file)) fs.writeFileSync(file, key.publicPem, { mode: 0o444 });
  return file;
}

/** Public keys found in <dataDir>/audit/keys/, by key id. */
export function localPublicKeys(dataDir: string): Map<string, PublicKeyInfo> {
  const out = new Map<string, PublicKeyInfo>();
  const dir = publicKeysDir(dataDir);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names.sort()) {
    if (!n.endsWith('.pem')) continue;
    const info = parsePublicKey(fs.readFileSync(path.join(dir, n), 'utf8'), path.join(dir, n));
    out.set(info.keyId, info);
  }
  return out;
}
