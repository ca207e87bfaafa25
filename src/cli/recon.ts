/** `bulwark recon` — reconciliation with the venues, against a running node's API (like `bulwark kill`). */
import { InvalidArgumentError, type Command } from 'commander';

interface ReconOpts {
  full?: boolean;
  reason?: string;
  url: string;
  token?: string;
  json?: boolean;
}

interface ReportLike {
  runId: string;
  kind: string;
  status: string;
  corrections: number;
  alerts: number;
  counts: Record<string, number>;
  venues: { venue: string; ok: boolean; error?: string; accounts: { account: string; executions: number; openOrders: number; positions: number }[] }[];
  discrepancies: { class: string; venue: string; account?: string; symbol?: string; orderId?: string; action: string; severity: string; detail: Record<string, string> }[];
}

export function registerReconCommands(program: Command): void {
  program
    .command('recon')
    .description('`bulwark recon run` reconciles with every venue now and prints the report; `bulwark recon show` prints the latest one')
    .argument('[action]', 'run (default) or show', (v) => {
      if (!['run', 'show'].includes(v)) throw new InvalidArgumentError('must be run or show');
      return v;
    })
    .option('--full', 'a full run (execution history since the start of the UTC day), as at the end of the day')
    .option('--reason <text>', 'why (recorded with the run)')
    .option('--url <url>', 'node API base URL', process.env.BULWARK_URL ?? 'http://127.0.0.1:8080')
    .option('--token <token>', 'bearer token of a risk manager, senior management or admin (default: $BULWARK_TOKEN)')
    .option('--json', 'print the report as JSON')
    .action(async (action: string | undefined, opts: ReconOpts) => {
      const act = action ?? 'run';
      const token = opts.token ?? process.env.BULWARK_TOKEN;
      if (act === 'run' && !token) fail('--token: a bearer token is required (or set BULWARK_TOKEN)');
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-bulwark-channel': 'cli' };
      if (token) headers.authorization = `Bearer ${token}`;
      let res: Response;
      try {
        res =
          act === 'show'
            ? await fetch(`${opts.url}/reconciliation`, { headers })
            : await fetch(`${opts.url}/reconciliation/run`, { method: 'POST', headers, body: JSON.stringify({ kind: opts.full ? 'full' : 'manual', ...(opts.reason ? { reason: opts.reason } : {}) }) });
      } catch (e) {
        fail(`--url: cannot reach ${opts.url}: ${(e as Error).message}`, 1);
      }
      const text = await res.text();
      if (!res.ok) {
        process.stdout.write(text + '\n');
        process.exit(1);
      }
      const body = JSON.parse(text) as ReportLike | { latest: ReportLike | null };
      const report = 'latest' in body ? body.latest : body;
      if (opts.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else process.stdout.write(report ? describe(report) : 'no reconciliation has run yet\n');
      if (report && (report.status === 'breaks' || report.status === 'partial')) process.exitCode = 3;
    });
}

function describe(r: ReportLike): string {
  const lines = [`reconciliation ${r.runId} (${r.kind}): ${r.status} — ${r.corrections} correction(s), ${r.alerts} alert(s)`];
  for (const v of r.venues) {
    if (!v.ok) lines.push(`  ${v.venue}: no answer (${v.error ?? 'unknown'})`);
    else for (const a of v.accounts) lines.push(`  ${v.venue} ${a.account}: ${a.openOrders} open order(s), ${a.positions} position(s), ${a.executions} execution(s) to check`);
  }
  const found = Object.entries(r.counts).filter(([, n]) => n > 0);
  if (found.length > 0) lines.push('  found: ' + found.map(([c, n]) => `${c} ${n}`).join(', '));
  for (const d of r.discrepancies.slice(0, 50)) {
    const what = [d.venue, d.account, d.symbol, d.orderId].filter(Boolean).join(' ');
    lines.push(`  [${d.severity}] ${d.class} ${what}: ${d.action} ${Object.entries(d.detail).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  }
  if (r.discrepancies.length > 50) lines.push(`  … ${r.discrepancies.length - 50} more (GET /reconciliation)`);
  return lines.join('\n') + '\n';
}

function fail(msg: string, code = 2): never {
  process.stderr.write(`bulwark recon: ${msg}\n`);
  process.exit(code);
}
