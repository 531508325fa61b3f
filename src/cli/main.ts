// The `warden` command: dispatches to one module per sub-command, and keeps one contract for all of
// them: -h/--help at every level (stdout, exit 0), --version, `warden help CMD`, exit codes 0 success,
// 1 refused or failed, 2 usage.
import { readFileSync } from 'node:fs';
import { WardenError, exitStatusOf } from '../protocol/errors.ts';
import { RemoteError, UsageError, processIo, suggest, type CommandRunner, type Io } from './io.ts';

/** What every command module exports. */
export interface CommandModule {
  run: CommandRunner;
  /** The help for `warden CMD PATH... --help` (PATH: the sub-command words given, possibly none). */
  help: (path: string[]) => string;
}

// Sub-command modules load on demand, so one command's dependencies never slow another's start.
const load = (name: string): Promise<CommandModule> => import(new URL(`./${name}.ts`, import.meta.url).href) as Promise<CommandModule>;

const COMMANDS: Record<string, { summary: string; module: string }> = {
  serve: { summary: 'start the key-release server (--dev: development mode with a demo policy and secret)', module: 'serve' },
  client: { summary: 'the enclave side in one command: attest and receive secrets (smoke tests)', module: 'client' },
  policy: { summary: 'check policy files, test them against a quote, reload a running server', module: 'policy' },
  secret: { summary: 'create, rotate, list, delete and export secrets', module: 'secret' },
  verify: { summary: 'verify a DCAP quote against collateral', module: 'verify' },
  enclave: { summary: 'inspect a signed enclave (SIGSTRUCT), write a policy for it', module: 'enclave' },
  audit: { summary: 'verify and list the audit trail', module: 'audit' },
  admin: { summary: 'admin API tokens, the master key, the server keys', module: 'admin' },
  collateral: { summary: 'fetch, inspect, export and import cached collateral', module: 'collateral' },
  db: { summary: 'database schema: migrate, status (SQLite or PostgreSQL)', module: 'db' },
  certs: { summary: 'create development TLS certificates', module: 'certs' },
  sim: { summary: 'simulated Intel PKI, quoting enclave, PCCS and signed enclaves (development)', module: 'sim' },
};

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function usage(): string {
  const lines = [
    'usage: warden <command> [options]',
    '',
    'Remote attestation and secret provisioning for SGX enclaves in Occlum.',
    '',
    'commands:',
  ];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(11)} ${c.summary}`);
  lines.push(
    '  help CMD    the help of a command (same as warden CMD --help)',
    '',
    'options: -h, --help (at every level), --version',
    "environment: WARDEN_DATA (the data directory, default ./data), WARDEN_SERVER (client's server URL)",
    'exit codes: 0 success, 1 refused or failed, 2 usage error',
    '',
    'first steps: npm start (a development server), then: npx warden client attest --dev --secret demo-sefs-key',
  );
  return lines.join('\n');
}

const isHelp = (a: string) => a === '-h' || a === '--help';

/** The sub-command words of `args`: its leading arguments up to the first flag. */
function leadingWords(args: string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    if (a.startsWith('-')) break;
    out.push(a);
  }
  return out;
}

function unknownCommand(name: string): UsageError {
  const s = suggest(name, Object.keys(COMMANDS));
  return new UsageError(`unknown command '${name}'${s ? ` (did you mean ${s}?)` : ''}; try 'warden --help'`);
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    io.err(usage());
    return 2;
  }
  if (isHelp(first)) {
    io.out(usage());
    return 0;
  }
  if (first === '--version' || first === '-V') {
    io.out(`warden ${version()}`);
    return 0;
  }
  // `warden help CMD SUB` is `warden CMD SUB --help`.
  const helpWanted = first === 'help' || argv.slice(0, argv.includes('--') ? argv.indexOf('--') : argv.length).some(isHelp);
  const name = first === 'help' ? rest[0] : first;
  const args = first === 'help' ? rest.slice(1) : rest;
  if (name === undefined) {
    io.out(usage());
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`warden: ${unknownCommand(name).message}`);
    return 2;
  }
  const json = args.includes('--json');
  try {
    const mod = await load(command.module);
    if (helpWanted) {
      io.out(mod.help(leadingWords(args)));
      return 0;
    }
    return await mod.run(args, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`warden ${name}: ${e.message}`);
      return 2;
    }
    if (e instanceof WardenError || e instanceof RemoteError) {
      // With --json, a refusal is a result too: one object on stdout, and the line on stderr.
      if (json) io.out(JSON.stringify({ ok: false, error: { code: e.code, message: e.message } }));
      io.err(`warden ${name}: ${e.message} [${e.code}]`);
      // The error table says how each code ends a command; a server's refusal relayed is exit 1.
      return e instanceof WardenError ? exitStatusOf(e.code) : 1;
    }
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND') {
      io.err(`warden ${name}: not available in this build`);
      return 2;
    }
    // Anything else is unexpected (a bug: internal_error): one line, never a stack trace (WARDEN_DEBUG=1 shows it).
    io.err(`warden ${name}: ${(e as Error)?.message ?? String(e)}`);
    if (process.env['WARDEN_DEBUG']) io.err(String((e as Error)?.stack));
    return exitStatusOf('internal_error');
  }
}
