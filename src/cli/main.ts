// The `warden` command: dispatches to one module per sub-command.
import { codeOf, exitStatusOf } from '../protocol/errors.ts';
import { UsageError, processIo, type CommandRunner, type Io } from './io.ts';

// Sub-command modules load on demand, so one command's dependencies never slow another's start.
const load = (name: string): Promise<{ run: CommandRunner }> => import(new URL(`./${name}.ts`, import.meta.url).href) as Promise<{ run: CommandRunner }>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run: CommandRunner }> }> = {
  verify: { summary: 'verify a DCAP quote against collateral', load: () => load('verify') },
  policy: { summary: 'check policy files, or test them against a quote', load: () => load('policy') },
  enclave: { summary: 'inspect a signed enclave (SIGSTRUCT)', load: () => load('enclave') },
  collateral: { summary: 'fetch, inspect, export and import cached collateral', load: () => load('collateral') },
  serve: { summary: 'start the key-release server', load: () => load('serve') },
  secret: { summary: 'create, rotate, list, delete and export secrets', load: () => load('secret') },
  admin: { summary: 'manage admin API tokens', load: () => load('admin') },
  audit: { summary: 'verify the audit trail', load: () => load('audit') },
  db: { summary: 'database schema: migrate, status', load: () => load('db') },
  certs: { summary: 'create development TLS certificates', load: () => load('certs') },
  sim: { summary: 'simulated Intel PKI, quoting enclave and PCCS (development)', load: () => load('sim') },
};

function usage(): string {
  const lines = ['usage: warden <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(11)} ${c.summary}`);
  return lines.join('\n');
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`warden: unknown command '${name}' (try 'warden --help')`);
    return 2;
  }
  try {
    const mod = await command.load();
    return await mod.run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`warden ${name}: ${e.message}`);
      return 2;
    }
    if ((e as NodeJS.ErrnoException)?.code === 'ERR_MODULE_NOT_FOUND') {
      io.err(`warden ${name}: not available in this build`);
      return 2;
    }
    io.err(`warden ${name}: ${(e as Error)?.message ?? String(e)}`);
    // The error table says how each code ends a command; anything unexpected is a failure (1).
    return exitStatusOf(codeOf(e));
  }
}
