// Runs the real `warden` command in a child process.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './fixtures.ts';

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function warden(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin/warden.js'), ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    env: opts.env ?? process.env,
    input: opts.input,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `warden` once per argument list, at most `parallel` at a time; results in the order given. */
export async function wardenMany(argLists: string[][], opts: { cwd?: string; parallel?: number } = {}): Promise<CliResult[]> {
  const { spawn } = await import('node:child_process');
  const results: CliResult[] = new Array(argLists.length);
  let next = 0;
  const one = (args: string[]) =>
    new Promise<CliResult>((resolve, reject) => {
      const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/warden.js'), ...args], { cwd: opts.cwd ?? REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });
  const worker = async () => {
    while (next < argLists.length) {
      const i = next++;
      results[i] = await one(argLists[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.parallel ?? 2, argLists.length) }, worker));
  return results;
}
