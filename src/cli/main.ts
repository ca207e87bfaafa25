/**
 * The `bulwark` command. Bad arguments get a message naming the option and exit code 2.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { pino } from 'pino';
import { buildApi } from '../api/server.js';
import { UserDirectory } from '../api/auth.js';
import { BulwarkNode, VERSION } from '../engine/node.js';
import { replayJournal } from '../engine/replay.js';
import { ConfigError, loadConfig } from '../ops/config.js';
import { registerKillCommands } from './kill.js';
import { registerReconCommands } from './recon.js';
import { registerDbCommands } from '../storage/cli.js';
import { registerAuditCommands } from '../audit/cli.js';
import { installProcessAuditHooks } from '../audit/hooks.js';

const program = new Command();
program.name('bulwark').description('Bulwark trading platform').version(VERSION).exitOverride();

function fail(msg: string, code = 2): never {
  process.stderr.write(`bulwark: ${msg}\n`);
  process.exit(code);
}

program
  .command('start')
  .description('run the node: journal, core, venues, strategies, API')
  .option('-c, --config <file>', 'YAML configuration file (default: $BULWARK_CONFIG or built-in paper-trading firm)')
  .option('-d, --data-dir <dir>', 'data directory (default: $BULWARK_DATA_DIR or ./data)')
  .option('-p, --port <port>', 'API port (default: $BULWARK_PORT or 8080)', (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number 0-65535');
    return n;
  })
  .action(async (opts: { config?: string; dataDir?: string; port?: number }) => {
    const log = pino({ base: { app: 'bulwark' }, timestamp: pino.stdTimeFunctions.isoTime });
    let cfg;
    try {
      const env = { ...process.env };
      if (opts.dataDir) env.BULWARK_DATA_DIR = opts.dataDir;
      if (opts.port !== undefined) env.BULWARK_PORT = String(opts.port);
      cfg = loadConfig({ ...(opts.config ? { file: opts.config } : {}), env });
    } catch (e) {
      if (e instanceof ConfigError) fail(e.message);
      throw e;
    }
    const users = (() => {
      try {
        return UserDirectory.forEnvironment(cfg.environment, []);
      } catch (e) {
        return fail((e as Error).message);
      }
    })();
    const node = await BulwarkNode.start(cfg, { log: (msg, data) => log.info(data ?? {}, msg) });
    installProcessAuditHooks(node, { log: (msg, data) => log.error(data ?? {}, msg) });
    if (node.recovered.records > 0) {
      const r = node.recovered.recovery;
      log.info({ records: node.recovered.records, openOrders: node.recovered.openOrders, repaired: node.recovered.repaired, snapshotSeq: r.snapshot?.seq ?? null, replayedRecords: r.replayedRecords, snapshotsRejected: r.rejected, lastSeq: r.lastSeq, digest: r.digest, ms: Math.round(r.ms) }, 'recovered from journal');
    }
    const app = await buildApi({ node, users });
    try {
      await app.listen({ host: cfg.api.host, port: cfg.api.port });
    } catch (e) {
      log.error({ error: (e as Error).message }, 'API could not listen');
      await node.stop('api listen failed');
      process.exit(1);
    }
    const addr = app.server.address();
    log.info({ address: typeof addr === 'object' && addr ? `http://${addr.address}:${addr.port}` : String(addr), dataDir: resolve(cfg.dataDir) }, 'API listening');
    let signals = 0;
    const shutdown = async (sig: string) => {
      if (++signals > 1) {
        log.warn({ signal: sig }, 'second signal: shutdown already in progress');
        return;
      }
      log.info({ signal: sig }, 'shutting down: cancelling open orders');
      const r = await node.stop(`signal ${sig}`);
      await app.close();
      process.stdout.write(`lastSeq ${r.lastSeq}\ndigest ${r.digest}\n`);
      if (r.openOrders > 0) log.warn({ openOrders: r.openOrders }, 'orders still open at the venues after the shutdown timeout');
      process.exit(0);
    };
    process.on('SIGINT', () => void shutdown('SIGINT'));
    process.on('SIGTERM', () => void shutdown('SIGTERM'));
  });

program
  .command('replay')
  .description('replay a journal into a fresh core and print its last sequence number and state digest')
  .requiredOption('-d, --data-dir <dir>', 'data directory of the node')
  .option('--to-seq <seq>', 'stop after this sequence number', (v) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
    return n;
  })
  .action((opts: { dataDir: string; toSeq?: number }) => {
    const dir = resolve(opts.dataDir, 'journal');
    if (!existsSync(dir)) fail(`--data-dir: ${resolve(opts.dataDir)} has no journal/ directory`);
    const t0 = process.hrtime.bigint();
    const r = replayJournal(dir, opts.toSeq !== undefined ? { toSeq: opts.toSeq } : {});
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    process.stdout.write(`lastSeq ${r.lastSeq}\ndigest ${r.digest}\n`);
    process.stderr.write(`replayed ${r.records} records (${r.inputs} inputs) in ${ms.toFixed(0)} ms\n`);
  });

registerKillCommands(program);
registerReconCommands(program);
registerDbCommands(program);
registerAuditCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  // Thrown by an action (a bad combination of options found after parsing): commander has not
  // printed it, unlike the errors of its own parsing, which arrive here as plain CommanderErrors.
  if (e instanceof InvalidArgumentError) fail(e.message);
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 2);
  if (e instanceof Error) fail(e.message, 1);
  throw e;
}
