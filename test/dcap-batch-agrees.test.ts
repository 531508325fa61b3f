// Issue #10, "Done when": one minimal case per finding (and real Intel CRLs forged after the genuine
// ones) gives Intel's verdict through `warden verify --batch` in one process, in both orders, and
// through `warden verify --json` in a fresh process per case; the three agree line for line.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { warden, wardenMany } from './helpers/cli.ts';
import { needsShared } from './helpers/shared.ts';
import { batchLine, outcomeOf, verifyArgs, writeFindingCases, type VerdictCase } from './helpers/verdict-cases.ts';

const tmp = mkdtempSync(join(tmpdir(), 'warden-agrees-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let cases: VerdictCase[] = [];

test('each finding\'s minimal case: --batch in both orders and fresh verify --json agree, and with Intel', async () => {
  cases = await writeFindingCases(tmp);
  const fresh = await wardenMany(cases.map(verifyArgs));
  const freshJson = fresh.map((r, i) => {
    assert.ok(r.status === 0 || r.status === 1, `${cases[i]!.name}: exit ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, unknown> & { ok: boolean; status: string | null; error: { code: string } | null };
  });
  cases.forEach((c, i) => assert.equal(outcomeOf(freshJson[i]!), c.expect, `fresh process, ${c.name}`));

  for (const order of ['as listed (genuine first)', 'reversed (forged first)']) {
    const list = order.startsWith('as') ? cases : [...cases].reverse();
    // Each case twice: the second answer comes from a process that has seen every case once.
    const lines = [...list, ...list];
    const file = join(tmp, `batch-${order.slice(0, 2)}.jsonl`);
    writeFileSync(file, lines.map(batchLine).join('\n') + '\n');
    const r = warden(['verify', '--batch', file]);
    assert.equal(r.status, 1, r.stderr);
    const out = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(out.length, lines.length);
    out.forEach((line, i) => {
      const c = lines[i]!;
      const { id, ...rest } = line;
      assert.equal(id, c.name);
      assert.deepEqual(rest, freshJson[cases.indexOf(c)], `${order}, line ${i + 1} (${c.name}): one process disagrees with a fresh one`);
    });
  }
});

test('the cases above included the real Intel CRLs of S1 and S5a, genuine and forged', needsShared('fixtures/dcap'), () => {
  const real = cases.map((c) => c.name).filter((n) => n.startsWith('S1-') || n.startsWith('S5a-'));
  assert.equal(real.length, 6, real.join(', '));
});
