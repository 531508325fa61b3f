// Where the time goes: runs one verification hot loop under node --cpu-prof and prints the functions
// with the most self and inclusive time, and what verifyQuote spends its time in.
//   node --import tsx bench/profile.ts steady|cold [--ops=N]
// (For the key-release server, set WARDEN_BENCH_SERVER_PROF=DIR for `npm run bench -- --only=release`:
// each server process writes a .cpuprofile there; `bench/profile.ts summarize FILE` prints it.)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyQuote } from '../src/dcap/verify.ts';
import { SimPki, makeCollateral, makeQuote } from '../src/sim/index.ts';
import { PlatformFactory } from './platforms.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function label(n: ProfileNode): string {
  return `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-2).join('/')}`;
}

/** Top self and inclusive times, and the children of `focus`, as percentages of all samples. */
export function summarize(p: Profile, focus = 'verifyQuote', top = 20): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const incl = new Map<number, number>();
  const walk = (id: number): number => {
    const n = byId.get(id)!;
    let t = self.get(id) ?? 0;
    for (const c of n.children ?? []) t += walk(c);
    incl.set(id, t);
    return t;
  };
  walk(p.nodes[0]!.id);
  const pct = (t: number) => `${((100 * t) / total).toFixed(1).padStart(5)}%`;
  const add = (m: Map<string, number>, k: string, t: number) => m.set(k, (m.get(k) ?? 0) + t);
  const selfBy = new Map<string, number>();
  const inclBy = new Map<string, number>();
  const focusKids = new Map<string, number>();
  for (const n of p.nodes) {
    add(selfBy, label(n), self.get(n.id) ?? 0);
    if (n.callFrame.functionName === focus) {
      add(focusKids, '(self)', self.get(n.id) ?? 0);
      for (const c of n.children ?? []) add(focusKids, label(byId.get(c)!), incl.get(c) ?? 0);
    }
  }
  // Inclusive per label, counting recursion once: only the outermost frame of a label adds.
  const visit = (id: number, open: Set<string>) => {
    const n = byId.get(id)!;
    const l = label(n);
    const outer = !open.has(l);
    if (outer) add(inclBy, l, incl.get(id) ?? 0);
    const next = outer ? new Set(open).add(l) : open;
    for (const c of n.children ?? []) visit(c, next);
  };
  visit(p.nodes[0]!.id, new Set());
  const list = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, t]) => `  ${pct(t)}  ${k}`)
      .join('\n');
  return [`self time:`, list(selfBy), `inclusive time:`, list(inclBy), `inside ${focus}:`, list(focusKids)].join('\n');
}

async function loop(mode: 'steady' | 'cold', ops: number): Promise<void> {
  const pki = await SimPki.create();
  const factory = await PlatformFactory.create(pki);
  const collateral = await makeCollateral(pki, {});
  const at = new Date();
  const n = mode === 'cold' ? ops : 32;
  const quotes = Array.from({ length: n }, () => makeQuote({ platform: factory.make() }));
  verifyQuote(makeQuote({ platform: factory.make() }), collateral, { at, trustedRoot: pki.rootPem });
  if (mode === 'steady') for (const q of quotes) verifyQuote(q, collateral, { at, trustedRoot: pki.rootPem });
  for (let i = 0; i < ops; i++) verifyQuote(quotes[i % n]!, collateral, { at, trustedRoot: pki.rootPem });
}

const SELF = fileURLToPath(import.meta.url);
if (process.argv[1] === SELF) {
  const [what, arg] = process.argv.slice(2);
  if (what === 'loop') {
    const [mode, ops] = (arg ?? 'steady:10000').split(':');
    await loop(mode === 'cold' ? 'cold' : 'steady', Number(ops));
  } else if (what === 'summarize' && arg) {
    process.stdout.write(`${summarize(JSON.parse(fs.readFileSync(arg, 'utf8')) as Profile, process.argv[4] ?? 'verifyQuote')}\n`);
  } else if (what === 'steady' || what === 'cold') {
    const opsArg = process.argv.find((a) => a.startsWith('--ops='));
    const ops = opsArg ? Number(opsArg.slice(6)) : what === 'cold' ? 3000 : 20000;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-prof-'));
    try {
      execFileSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--import', 'tsx', SELF, 'loop', `${what}:${ops}`], { stdio: 'inherit' });
      // The main thread's profile is the largest (tsx's loader thread writes one too).
      const files = fs.readdirSync(dir).map((f) => path.join(dir, f));
      const main = files.sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0];
      if (!main) throw new Error('no profile written');
      process.stdout.write(`${what}: ${ops} verifications (setup included in the totals)\n${summarize(JSON.parse(fs.readFileSync(main, 'utf8')) as Profile)}\n`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  } else {
    process.stderr.write('usage: node --import tsx bench/profile.ts steady|cold [--ops=N] | summarize FILE.cpuprofile [FUNCTION]\n');
    process.exitCode = 2;
  }
}
