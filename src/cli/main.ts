// The `warden` command: dispatches to one module per sub-command.
import { UsageError, processIo, type CommandRunner, type Io } from './io.ts';

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run: CommandRunner }> }> = {
  verify: { summary: 'verify a DCAP quote against collateral', load: () => import('./verify.ts') },
  policy: { summary: 'check policy files, or test them against a quote', load: () => import('./policy.ts') },
  enclave: { summary: 'inspect a signed enclave (SIGSTRUCT)', load: () => import('./enclave.ts') },
  collateral: { summary: 'fetch, inspect, export and import cached collateral', load: () => import('./collateral.ts') },
  serve: { summary: 'start the key-release server', load: () => import('./serve.ts') },
  secret: { summary: 'create, rotate, list, delete and export secrets', load: () => import('./secret.ts') },
  admin: { summary: 'manage admin API tokens', load: () => import('./admin.ts') },
  audit: { summary: 'verify the audit trail', load: () => import('./audit.ts') },
  certs: { summary: 'create development TLS certificates', load: () => import('./certs.ts') },
  sim: { summary: 'simulated Intel PKI, quoting enclave and PCCS (development)', load: () => import('./sim.ts') },
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
    return 1;
  }
}
