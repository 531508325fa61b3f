// The README cannot drift (issue 13): every ```sh block preceded by `<!-- doctest -->` is run, in README
// order, as one shell session in a temporary copy of the repository laid out like a fresh clone, and each
// command must exit as the README says (0, or the `exit N` its comment names).
//
// What the test does not run, and why: `git clone` (it runs in a copy of this working tree) and `npm ci`
// (the copy shares this tree's node_modules). A command that starts a server (`npm start`, `warden
// serve`) runs in the background until the next one starts (a reader stops it with Ctrl-C first); the
// test waits for its "warden listening on URL" line and points the client at it (WARDEN_SERVER). Ports
// are free ones (WARDEN_PORT=0, and `--port N` becomes `--port 0`), as every test here binds port 0.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface DocCommand {
  /** 1-based line in README.md where the command starts. */
  line: number;
  command: string;
  expectExit: number;
  server: boolean;
}

/** The runnable commands of a README, in order (continuation lines joined, comments dropped). */
export function runnableCommands(readme: string): DocCommand[] {
  const lines = readme.split('\n');
  const out: DocCommand[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '<!-- doctest -->') continue;
    let j = i + 1;
    while (j < lines.length && lines[j]!.trim() === '') j++;
    if (!/^```(sh|bash|shell)\s*$/.test(lines[j] ?? '')) throw new Error(`README.md:${i + 1}: <!-- doctest --> must precede a \`\`\`sh block`);
    for (j++; j < lines.length && !lines[j]!.startsWith('```'); j++) {
      const start = j;
      let text = lines[j]!;
      while (text.endsWith('\\') && j + 1 < lines.length) text = text.slice(0, -1).trimEnd() + ' ' + lines[++j]!.trim();
      // A comment starts at ' #' outside quotes; the README's commands keep '#' out of their quotes.
      const hash = text.search(/(^|\s)#/);
      const comment = hash >= 0 ? text.slice(hash) : '';
      let command = (hash >= 0 ? text.slice(0, hash) : text).trim();
      if (!command || /^git clone\b/.test(command) || command === 'npm ci') continue;
      command = command.replace(/^npm ci && /, '');
      const exit = /\bexit (\d+)\b/.exec(comment);
      out.push({ line: start + 1, command, expectExit: exit ? Number(exit[1]) : 0, server: /(^|\s)(npm start|npx warden serve)(\s|$)/.test(command) });
    }
    i = j;
  }
  return out;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** One bash script for the whole session: commands run literally (so `export` carries over). */
function script(cmds: DocCommand[]): string {
  const s = [
    'set -u',
    'export WARDEN_PORT=0',
    'server=',
    'stop_server() { if [ -n "$server" ]; then kill -TERM -- "-$server" 2>/dev/null; wait "$server" 2>/dev/null; server=; fi; }',
    'trap stop_server EXIT',
    'check() { if [ "$1" -ne "$2" ]; then echo "DOCTEST-FAIL README.md:$3: exit $1, expected $2" >&2; exit 90; fi; }',
  ];
  cmds.forEach((c, n) => {
    const cmd = c.command.replace(/--port \d+/, '--port 0');
    s.push(`echo ${q(`+ README.md:${c.line}: ${c.command}`)}`);
    if (c.server) {
      // Its own process group, so that stopping it stops npm's child too.
      s.push(
        'stop_server',
        `log=$PWD/../doctest-server-${n}.log`,
        `set -m; ( ${cmd} ) >"$log" 2>&1 & server=$!; set +m`,
        'for i in $(seq 1 600); do url=$(grep -o "warden listening on [^ ]*" "$log" | head -1 | cut -d" " -f4); [ -n "$url" ] && break; kill -0 "$server" 2>/dev/null || break; sleep 0.5; done',
        `if [ -z "$url" ]; then echo "DOCTEST-FAIL README.md:${c.line}: the server did not start:" >&2; cat "$log" >&2; exit 91; fi`,
        'export WARDEN_SERVER=$url',
        'echo "  (server listening on $url)"',
      );
    } else {
      s.push(cmd, `check $? ${c.expectExit} ${c.line}`);
    }
  });
  s.push('echo DOCTEST-DONE');
  return s.join('\n') + '\n';
}

/** A fresh clone's layout (tracked top-level entries), with this tree's node_modules. */
function freshCopy(into: string): void {
  for (const entry of ['package.json', 'package-lock.json', 'tsconfig.json', 'openapi.yaml', 'bin', 'src', 'policies', 'occlum-image', 'README.md']) {
    const from = path.join(ROOT, entry);
    if (fs.existsSync(from)) fs.cpSync(from, path.join(into, entry), { recursive: true, filter: (f) => !/\/(build|node_modules)(\/|$)/.test(f.slice(from.length)) });
  }
  fs.mkdirSync(path.join(into, 'certs'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(into, 'node_modules'));
}

test('the README marks its Quickstart runnable: the ten commands from clone to a released secret and a production-shaped start', () => {
  const cmds = runnableCommands(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  assert.ok(cmds.some((c) => c.command === 'npm start' && c.server));
  assert.ok(cmds.some((c) => /client attest --dev --secret demo-sefs-key$/.test(c.command) && c.expectExit === 0));
  assert.ok(cmds.some((c) => /client attest .*--debug/.test(c.command) && c.expectExit === 1));
  assert.ok(cmds.some((c) => /admin master-key generate/.test(c.command)));
});

test('runnableCommands: continuation lines, comments, expected exits, skipped set-up lines', () => {
  const md = ['x', '<!-- doctest -->', '```sh', 'git clone /r w && cd w', 'npm ci && npm start   # terminal 1', 'npx warden a \\', '  --b c   # refused: exit 1', '', '```', '```sh', 'not run', '```'].join('\n');
  assert.deepEqual(runnableCommands(md), [
    { line: 5, command: 'npm start', expectExit: 0, server: true },
    { line: 6, command: 'npx warden a --b c', expectExit: 1, server: false },
  ]);
});

test("the README's runnable examples run, in order, on a fresh copy", { timeout: 900_000 }, async () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const cmds = runnableCommands(readme);
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-doctest-'));
  const repo = path.join(base, 'warden');
  fs.mkdirSync(repo);
  try {
    freshCopy(repo);
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of ['WARDEN_DATA', 'WARDEN_SERVER', 'WARDEN_ADMIN_TOKEN', 'WARDEN_DATABASE_URL', 'WARDEN_PORT']) delete env[k];
    const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const p = spawn('bash', ['-c', script(cmds)], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      p.on('close', (code) => resolve({ code, out, err }));
    });
    const failure = /DOCTEST-FAIL .*/.exec(r.err)?.[0];
    assert.equal(r.code, 0, `${failure ?? 'the session failed'}\n--- stdout (tail)\n${r.out.slice(-4000)}\n--- stderr (tail)\n${r.err.slice(-4000)}`);
    assert.match(r.out, /DOCTEST-DONE/);
    // Every command ran (none was skipped by an early exit of the session).
    for (const c of cmds) assert.ok(r.out.includes(`+ README.md:${c.line}: `), `README.md:${c.line} did not run`);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

test("the README's table of contents and internal links point at headings that exist", () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const anchors = new Set([...readme.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)));
  const links = [...readme.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]!);
  assert.ok(links.length >= 10, 'the Contents list links the sections');
  for (const l of links) assert.ok(anchors.has(l), `#${l} names no heading`);
  // The Quickstart comes first, then the Contents.
  const order = [...readme.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
  assert.deepEqual(order.slice(0, 2), ['Quickstart', 'Contents']);
});
