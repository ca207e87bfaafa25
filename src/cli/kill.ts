/** `bulwark kill` — the kill switch from a terminal, against a running node's API. */
import { InvalidArgumentError, type Command } from 'commander';
import { KILL_SCOPES } from '../risk/kill-switch.js';

interface KillOpts {
  scope: string;
  id?: string;
  reason?: string;
  activation?: string;
  url: string;
  token?: string;
}

export function registerKillCommands(program: Command): void {
  program
    .command('kill')
    .description('activate the kill switch on a running node; `bulwark kill reset` re-enables trading; `bulwark kill status` shows it')
    .argument('[action]', 'activate (default), reset or status', (v) => {
      if (!['activate', 'reset', 'status'].includes(v)) throw new InvalidArgumentError('must be activate, reset or status');
      return v;
    })
    .option('--scope <scope>', `one of ${KILL_SCOPES.join(', ')}`, (v) => {
      if (!(KILL_SCOPES as readonly string[]).includes(v)) throw new InvalidArgumentError(`must be one of ${KILL_SCOPES.join(', ')}`);
      return v;
    }, 'firm')
    .option('--id <id>', 'the venue, account, trader, strategy or symbol (not for firm)')
    .option('--reason <text>', 'why (required for activate and reset)')
    .option('--activation <id>', 'activation to reset (default: the only open one)')
    .option('--url <url>', 'node API base URL', process.env.BULWARK_URL ?? 'http://127.0.0.1:8080')
    .option('--token <token>', 'bearer token (default: $BULWARK_TOKEN)')
    .action(async (action: string | undefined, opts: KillOpts) => {
      const token = opts.token ?? process.env.BULWARK_TOKEN;
      const act = action ?? 'activate';
      if (act !== 'status' && !token) fail('--token: a bearer token is required (or set BULWARK_TOKEN)');
      if (act !== 'status' && !opts.reason) fail('--reason: say why');
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-bulwark-channel': 'cli' };
      if (token) headers.authorization = `Bearer ${token}`;
      let res: Response;
      try {
        if (act === 'status') res = await fetch(`${opts.url}/kill-switch`, { headers });
        else if (act === 'reset') res = await fetch(`${opts.url}/kill-switch/reset`, { method: 'POST', headers, body: JSON.stringify({ reason: opts.reason, ...(opts.activation ? { activationId: opts.activation } : {}) }) });
        else res = await fetch(`${opts.url}/kill-switch`, { method: 'POST', headers, body: JSON.stringify({ scope: opts.scope, ...(opts.id ? { id: opts.id } : {}), reason: opts.reason }) });
      } catch (e) {
        fail(`--url: cannot reach ${opts.url}: ${(e as Error).message}`, 1);
      }
      const text = await res.text();
      process.stdout.write(text + '\n');
      if (!res.ok) process.exit(1);
    });
}

function fail(msg: string, code = 2): never {
  process.stderr.write(`bulwark kill: ${msg}\n`);
  process.exit(code);
}
