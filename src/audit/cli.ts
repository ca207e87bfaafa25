/**
 * `bulwark audit ...`: verify, prove, consistency, export, pubkey, archive, check-proof.
 * Exit codes: 0 success (verify: intact), 1 verification failed or the operation failed,
 * 2 bad arguments (the `bulwark` program maps commander errors to 2).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig, type NodeConfig } from '../ops/config.js';
import { ArchiveNotRestoredError, AuditArchiver, type RestoreOptions } from './archive.js';
import { AUDIT_DEFAULTS, type AuditConfig } from './config.js';
import { exportRecords, type ExportFormat } from './export.js';
import { loadSigningKey, localPublicKeys, parsePublicKey, type PublicKeyInfo } from './keys.js';
import { checkConsistencyDoc, checkInclusionDoc, proveConsistency, proveInclusion, type ConsistencyProofDoc, type InclusionProofDoc } from './prove.js';
import { formatReport, verifyAudit } from './verify.js';

export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
  setExitCode: (code: number) => void;
  env: NodeJS.ProcessEnv;
}

const processIo: CliIo = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  setExitCode: (c) => {
    process.exitCode = c;
  },
  env: process.env,
};

function positiveInt(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a positive integer`);
    return n;
  };
}

const RESTORE_TIERS: readonly RestoreOptions['tier'][] = ['Standard', 'Bulk', 'Expedited'];

function restoreTier(v: string): RestoreOptions['tier'] {
  const t = RESTORE_TIERS.find((x) => x.toLowerCase() === v.toLowerCase());
  if (t === undefined) throw new InvalidArgumentError(`--restore-tier must be one of ${RESTORE_TIERS.join(', ')}`);
  return t;
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

interface DirOpts {
  dataDir?: string;
  config?: string;
}

/** The data dir and audit section as the node would see them. */
function resolveNode(opts: DirOpts, io: CliIo): { dataDir: string; audit: AuditConfig; environment: string; config: NodeConfig | null } {
  if (opts.config !== undefined) {
    const env = { ...io.env, ...(opts.dataDir !== undefined ? { BULWARK_DATA_DIR: opts.dataDir } : {}) };
    const cfg = loadConfig({ file: opts.config, env });
    return { dataDir: path.resolve(cfg.dataDir), audit: cfg.audit, environment: cfg.environment, config: cfg };
  }
  const dataDir = path.resolve(opts.dataDir ?? io.env.BULWARK_DATA_DIR ?? './data');
  return { dataDir, audit: AUDIT_DEFAULTS, environment: io.env.BULWARK_ENV ?? 'dev', config: null };
}

function requireDataDir(dataDir: string): void {
  if (!fs.existsSync(path.join(dataDir, 'journal'))) throw new InvalidArgumentError(`--data-dir: ${dataDir} has no journal/ directory`);
}

function readKeys(files: string[] | undefined): PublicKeyInfo[] {
  return (files ?? []).map((f) => {
    let pem: string;
    try {
      pem = fs.readFileSync(f, 'utf8');
    } catch (e) {
      throw new InvalidArgumentError(`--public-key ${f}: ${(e as Error).message}`);
    }
    try {
      return parsePublicKey(pem, `--public-key ${f}`);
    } catch (e) {
      // a bad argument (exit 2), not a failed verification (exit 1)
      throw new InvalidArgumentError((e as Error).message);
    }
  });
}

export function registerAuditCommands(program: Command, io: CliIo = processIo): Command {
  const audit = program.command('audit').description('tamper-evident audit trail: verify, prove, export, archive');
  const dataDirOpt = ['-d, --data-dir <dir>', 'data directory of the node (default: $BULWARK_DATA_DIR or ./data)'] as const;

  audit
    .command('verify')
    .description('recompute the hash chain, the Merkle tree and every checkpoint signature; compare the database; exit 0 when intact, 1 otherwise (3: an archive not restored yet)')
    .option(...dataDirOpt)
    .option('-c, --config <file>', 'node configuration (for the archive settings)')
    .option('--public-key <file>', 'trust only this Ed25519 public key (PEM); repeatable', collect)
    .option('--no-db', 'do not compare the database even when one is configured')
    .option('--from-archive', 'verify the WORM archive (audit.archive in the configuration) instead of the local files')
    .option('--restore', 'with --from-archive: request the restore of objects in Deep Archive / Glacier that are not readable yet (exit 3 until it completes)')
    .option('--restore-days <days>', 'with --restore: how long restored copies stay readable', positiveInt('--restore-days'), 7)
    .option('--restore-tier <tier>', `with --restore: retrieval tier, ${RESTORE_TIERS.join(' | ')}`, restoreTier, 'Standard' as RestoreOptions['tier'])
    .option('--json', 'print the full report as JSON')
    .action(async (opts: DirOpts & { publicKey?: string[]; db: boolean; fromArchive?: boolean; restore?: boolean; restoreDays: number; restoreTier: RestoreOptions['tier']; json?: boolean }) => {
      const node = resolveNode(opts, io);
      const publicKeys = readKeys(opts.publicKey);
      let dataDir = node.dataDir;
      let tmp: string | undefined;
      let downloaded: { segments: number; checkpoints: number; keys: number; mismatches: string[] } | undefined;
      if (opts.restore === true && opts.fromArchive !== true) throw new InvalidArgumentError('--restore: only with --from-archive');
      if (opts.fromArchive === true) {
        if (node.audit.archive === undefined) throw new InvalidArgumentError('--from-archive: the configuration has no audit.archive section (pass --config)');
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-archive-verify-'));
        const archiver = new AuditArchiver(node.audit.archive, tmp);
        try {
          downloaded = await archiver.download(tmp, opts.restore === true ? { restore: { days: opts.restoreDays, tier: opts.restoreTier } } : {});
        } catch (e) {
          if (!(e instanceof ArchiveNotRestoredError)) throw e;
          // not a verdict on the archive: it cannot be read yet
          fs.rmSync(tmp, { recursive: true, force: true });
          io.err(`${e.message}\n`);
          io.setExitCode(3);
          return;
        } finally {
          archiver.close();
        }
        dataDir = tmp;
        io.err(`downloaded ${downloaded.segments} segment(s), ${downloaded.checkpoints} checkpoint(s), ${downloaded.keys} key(s) from s3://${archiver.bucket}/${archiver.prefix}\n`);
      } else {
        requireDataDir(dataDir);
      }
      try {
        const report = await verifyAudit({
          dataDir,
          publicKeys,
          database: opts.db && opts.fromArchive !== true ? 'auto' : 'none',
          env: io.env,
          fromArchive: opts.fromArchive === true,
        });
        for (const m of downloaded?.mismatches ?? []) {
          report.problems.push({ area: 'journal', seq: null, message: m });
          report.ok = false;
        }
        io.out(opts.json === true ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
        io.setExitCode(report.ok ? 0 : 1);
      } finally {
        if (tmp !== undefined) fs.rmSync(tmp, { recursive: true, force: true });
      }
    });

  audit
    .command('prove')
    .description('print an inclusion proof (JSON) of record <seq> against the latest signed checkpoint')
    .argument('<seq>', 'sequence number of the record', positiveInt('seq'))
    .option(...dataDirOpt)
    .option('--checkpoint <treeSize>', 'prove against the checkpoint of this many records instead of the latest', positiveInt('--checkpoint'))
    .action((seq: number, opts: DirOpts & { checkpoint?: number }) => {
      const { dataDir } = resolveNode(opts, io);
      requireDataDir(dataDir);
      const doc = proveInclusion(dataDir, seq, opts.checkpoint !== undefined ? { treeSize: opts.checkpoint } : {});
      io.out(JSON.stringify(doc, null, 2) + '\n');
    });

  audit
    .command('consistency')
    .description('print a consistency proof (JSON) that a later checkpoint extends an earlier one')
    .option(...dataDirOpt)
    .option('--from <treeSize>', 'the earlier checkpoint (default: the first)', positiveInt('--from'))
    .option('--to <treeSize>', 'the later checkpoint (default: the latest)', positiveInt('--to'))
    .action((opts: DirOpts & { from?: number; to?: number }) => {
      const { dataDir } = resolveNode(opts, io);
      requireDataDir(dataDir);
      const doc = proveConsistency(dataDir, { ...(opts.from !== undefined ? { from: opts.from } : {}), ...(opts.to !== undefined ? { to: opts.to } : {}) });
      io.out(JSON.stringify(doc, null, 2) + '\n');
    });

  audit
    .command('check-proof')
    .description('check an inclusion or consistency proof document (as printed by prove / consistency) with a public key')
    .argument('<file>', 'proof JSON file ("-" for stdin)')
    .requiredOption('--public-key <file>', 'Ed25519 public key (PEM) the checkpoint must be signed with')
    .action((file: string, opts: { publicKey: string }) => {
      const key = readKeys([opts.publicKey])[0]!;
      const text = file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(file, 'utf8');
      const doc = JSON.parse(text) as InclusionProofDoc | ConsistencyProofDoc;
      const problem =
        doc.format === 'bulwark-audit-inclusion-proof/v1'
          ? checkInclusionDoc(doc, key)
          : doc.format === 'bulwark-audit-consistency-proof/v1'
            ? checkConsistencyDoc(doc, key)
            : `unknown proof format ${String((doc as { format?: unknown }).format)}`;
      io.out(problem === undefined ? 'OK: the proof holds\n' : `FAILED: ${problem}\n`);
      io.setExitCode(problem === undefined ? 0 : 1);
    });

  audit
    .command('export')
    .description('export records as JSON lines or CSV; --from/--to take a seq (inclusive) or an ISO-8601 time')
    .option(...dataDirOpt)
    .option('--from <seqOrTime>', 'first record: a seq, or the first record stamped at or after this time (default: seq 1)')
    .option('--to <seqOrTime>', 'last record: a seq, or the last record stamped at or before this time (default: the end)')
    .option('--format <format>', 'jsonl or csv', (v) => {
      if (v !== 'jsonl' && v !== 'csv') throw new InvalidArgumentError('must be jsonl or csv');
      return v;
    }, 'jsonl')
    .option('--bodies', 'include each record body (base64) so the export can be re-hashed')
    .option('-o, --out <file>', 'write to this file instead of stdout')
    .action(async (opts: DirOpts & { from?: string; to?: string; format: ExportFormat; bodies?: boolean; out?: string }) => {
      const { dataDir } = resolveNode(opts, io);
      requireDataDir(dataDir);
      let file: fs.WriteStream | undefined;
      if (opts.out !== undefined) {
        // opened here, so that a path that cannot be written is a named argument error, not a stream crash
        let fd: number;
        try {
          fd = fs.openSync(opts.out, 'wx');
        } catch (e) {
          const err = e as NodeJS.ErrnoException;
          throw new InvalidArgumentError(`--out ${opts.out}: ${err.code === 'EEXIST' ? 'exists already (an export never overwrites a file)' : err.message}`);
        }
        file = fs.createWriteStream(opts.out, { fd });
      }
      const sink =
        file ??
        (new (await import('node:stream')).Writable({
          write(chunk: Buffer, _enc, cb) {
            io.out(chunk.toString('utf8'));
            cb();
          },
        }) as import('node:stream').Writable);
      let r;
      try {
        r = await exportRecords({ dataDir, format: opts.format, out: sink, withBodies: opts.bodies === true, ...(opts.from !== undefined ? { from: opts.from } : {}), ...(opts.to !== undefined ? { to: opts.to } : {}) });
      } catch (e) {
        if (file !== undefined) {
          // nothing half-written is left behind under the name asked for
          await new Promise<void>((resolve) => file.end(() => resolve()));
          fs.rmSync(opts.out!, { force: true });
        }
        if (e instanceof RangeError) throw new InvalidArgumentError(e.message);
        throw e;
      }
      if (file !== undefined) await new Promise<void>((resolve, reject) => file.end((err?: Error | null) => (err ? reject(err) : resolve())));
      io.err(r.records === 0 ? 'exported 0 records\n' : `exported ${r.records} record(s), seq ${r.firstSeq}..${r.lastSeq}\n`);
    });

  audit
    .command('pubkey')
    .description('print the public key (PEM) that verifies this node\'s checkpoints; its key id goes to stderr')
    .option(...dataDirOpt)
    .option('-c, --config <file>', 'node configuration (for audit.keyFile)')
    .option('--all', 'every public key this data dir has signed with')
    .action((opts: DirOpts & { all?: boolean }) => {
      const node = resolveNode(opts, io);
      if (opts.all === true) {
        for (const [id, k] of localPublicKeys(node.dataDir)) {
          io.err(`keyId ${id}\n`);
          io.out(k.publicPem);
        }
        return;
      }
      const key = loadSigningKey({ dataDir: node.dataDir, environment: node.environment, keyFile: node.audit.keyFile, env: io.env, create: false });
      io.out(key.publicPem);
      io.err(`keyId ${key.keyId} (${key.source})\n`);
    });

  audit
    .command('archive')
    .description('upload sealed segments, checkpoints and public keys to the WORM archive now (what the node does every audit.archive.intervalSeconds)')
    .option(...dataDirOpt)
    .requiredOption('-c, --config <file>', 'node configuration with an audit.archive section')
    .action(async (opts: DirOpts) => {
      const node = resolveNode(opts, io);
      if (node.audit.archive === undefined) throw new InvalidArgumentError('--config: the configuration has no audit.archive section');
      requireDataDir(node.dataDir);
      const archiver = new AuditArchiver(node.audit.archive, node.dataDir);
      try {
        const r = await archiver.runOnce();
        for (const u of r.uploaded) io.out(`uploaded s3://${archiver.bucket}/${u.key} (${u.bytes} bytes, ${u.storageClass})\n`);
        io.out(`${r.uploaded.length} uploaded, ${r.present} already archived; retained until ${r.retainUntil} (COMPLIANCE)\n`);
        io.out(`journal archived through seq ${r.archivedThroughSeq}\n`);
      } finally {
        archiver.close();
      }
    });

  return audit;
}
