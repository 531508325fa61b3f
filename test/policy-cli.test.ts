import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main } from '../src/cli/main.ts';
import { needsShared, sharedPath } from './helpers/shared.ts';

const S9 = sharedPath('fixtures/dcap', 'S9-dcaprs-sgx-v3-debug');
const S5A = sharedPath('fixtures/dcap', 'S5a-automata-sgx-v3-tcbinfo-v3');
const EXAMPLES = new URL('../policies/', import.meta.url).pathname;
let tmp: string;

async function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

function policyDir(name: string, files: Record<string, string>): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), text);
  return dir;
}

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-policy-cli-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const s9Args = ['--quote', path.join(S9, 'quote.bin'), '--collateral', path.join(S9, 'collateral.json'), '--at', '2024-08-29T20:20:00Z'];

test('policy test denies the S9 debug enclave under the example policies, and says why', needsShared('fixtures/dcap'), async () => {
  const r = await cli(['policy', 'test', ...s9Args, '--policies', EXAMPLES, '--json']);
  assert.equal(r.code, 1, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.allowed, false);
  assert.deepEqual(j.secrets, []);
  assert.equal(j.policy, null);
  assert.match(j.policySetHash, /^[0-9a-f]{64}$/);
  assert.equal(j.verification.ok, true);
  assert.equal(j.verification.status, 'ConfigurationAndSWHardeningNeeded');
  assert.deepEqual(j.verification.advisoryIds, ['INTEL-SA-00289', 'INTEL-SA-00615']);
  assert.equal(j.verification.error, null);
  assert.equal(j.verification.report.debug, true);
  assert.equal(j.verification.report.mrEnclave, 'a39d532e6ac9fe8ad9418851bbe26e1dee7408006505fce8580b511b97e704b4');
  assert.deepEqual(j.reasons, ['debug enclave refused by policy example-debug-demo']);
  const demo = j.policies.find((p: { name: string }) => p.name === 'example-debug-demo');
  assert.equal(demo.matched, true);
  assert.equal(demo.ok, false);
  const failed = demo.checks.filter((c: { ok: boolean }) => !c.ok);
  assert.deepEqual(failed, [{ name: 'debug', ok: false, expected: 'deny', actual: 'debug', message: 'debug enclave refused by policy example-debug-demo' }]);
  for (const c of demo.checks) assert.deepEqual(Object.keys(c).sort(), ['actual', 'expected', 'message', 'name', 'ok']);

  const human = await cli(['policy', 'test', ...s9Args, '--policies', EXAMPLES]);
  assert.equal(human.code, 1);
  assert.match(human.out, /DENIED/);
  assert.match(human.out, /FAIL debug: debug enclave refused by policy example-debug-demo/);
});

test('policy test allows a quote its policy accepts and lists the released secrets', needsShared('fixtures/dcap'), async () => {
  const dir = policyDir('allow-s5a', {
    's5a.yaml': [
      'name: s5a',
      'version: 1',
      'match:',
      '  - mrenclave: a4f45c39dac622cb1dd32ddb35a52ec92db41d0fa88a1c911c49e59c534f61cd',
      'tcb:',
      '  statuses: [UpToDate, SWHardeningNeeded]',
      '  advisories: [{ id: INTEL-SA-00615, expires: 2026-01-01 }]',
      'secrets: [app-key, tls-key]',
      '',
    ].join('\n'),
    'other.yaml': `name: other\nversion: 1\nmatch:\n  - mrenclave: ${'00'.repeat(32)}\nsecrets: [nope]\n`,
  });
  const args = ['--quote', path.join(S5A, 'quote.bin'), '--collateral', path.join(S5A, 'collateral.json'), '--at', '2025-08-15T05:45:00Z'];
  const r = await cli(['policy', 'test', ...args, '--policies', dir, '--json']);
  assert.equal(r.code, 0, r.out + r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.allowed, true);
  assert.deepEqual(j.secrets, ['app-key', 'tls-key']);
  assert.equal(j.policy, 's5a');
  assert.deepEqual(j.reasons, []);
  assert.equal(j.policies.find((p: { name: string }) => p.name === 'other').matched, false);

  // After the advisory allowance expires the same quote is refused (collateral is judged at --at too,
  // so take a policy time inside the collateral window and an allowance that ended before it).
  const expired = policyDir('expired-s5a', {
    's5a.yaml': fs.readFileSync(path.join(dir, 's5a.yaml'), 'utf8').replace('2026-01-01', '2025-08-01'),
  });
  const d = await cli(['policy', 'test', ...args, '--policies', expired, '--json']);
  assert.equal(d.code, 1);
  assert.match(JSON.parse(d.out).reasons.join('\n'), /advisory INTEL-SA-00615 allowance expired/);
});

test('policy test reports a quote that does not verify: allowed false and verification.error', needsShared('fixtures/dcap'), async () => {
  const r = await cli([
    'policy', 'test', '--quote', path.join(S9, 'quote.bin'), '--collateral', path.join(S9, 'collateral.json'),
    '--at', '2026-01-01T00:00:00Z', '--policies', EXAMPLES, '--json',
  ]);
  assert.equal(r.code, 1);
  const j = JSON.parse(r.out);
  assert.equal(j.allowed, false);
  assert.equal(j.verification.ok, false);
  assert.equal(typeof j.verification.error.code, 'string');
  assert.equal(typeof j.verification.error.message, 'string');
  assert.deepEqual(j.policies, []);
  assert.match(j.reasons[0], /quote did not verify/);
});

test('policy test usage errors exit 2: bad flags, missing files, invalid policies', needsShared('fixtures/dcap'), async () => {
  assert.equal((await cli(['policy', 'test', '--collateral', 'x'])).code, 2);
  assert.equal((await cli(['policy', 'test', '--quote', 'x'])).code, 2);
  assert.equal((await cli(['policy', 'test', ...s9Args, '--policies', EXAMPLES, '--bogus'])).code, 2);
  assert.equal((await cli(['policy', 'test', ...s9Args.slice(0, 4), '--at', 'yesterday', '--policies', EXAMPLES])).code, 2);
  const missingQuote = await cli(['policy', 'test', '--quote', path.join(tmp, 'none.bin'), '--collateral', path.join(S9, 'collateral.json'), '--policies', EXAMPLES]);
  assert.equal(missingQuote.code, 2);
  assert.doesNotMatch(missingQuote.err, /\n\s+at /, 'no stack trace');
  const bad = policyDir('bad', { 'bad.yaml': 'name: bad\nversion: 1\nmatch:\n  - isvprodid: 1\nsecrets: [k]\n' });
  const r = await cli(['policy', 'test', ...s9Args, '--policies', bad]);
  assert.equal(r.code, 2);
  assert.match(r.err, /bad\.yaml:4: error identity_wildcard/);
  assert.equal((await cli(['policy', 'test', ...s9Args, '--policies', path.join(tmp, 'no-such-dir')])).code, 2);
});

test('policy check: 0 with warnings printed, 1 with errors naming file and line', async () => {
  const ok = await cli(['policy', 'check', EXAMPLES]);
  assert.equal(ok.code, 0, ok.out);
  assert.match(ok.out, /example-debug-demo\.yaml:\d+: warning status_configuration_accepted/);
  const shipped = fs.readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')).length;
  assert.match(ok.out, new RegExp(`${shipped} policies loaded, set hash [0-9a-f]{64}`));

  const dir = policyDir('check-bad', {
    'good.yaml': `name: good\nversion: 1\nmatch:\n  - mrenclave: ${'ab'.repeat(32)}\n    min_isvsvn: 1\ndebug: allow\nsecrets: [k]\n`,
    'typo.yaml': `name: typo\nversion: 1\nmatch:\n  - mrenclave: ${'ab'.repeat(32)}\n    min_isvsvm: 1\nsecrets: [k]\n`,
  });
  const bad = await cli(['policy', 'check', dir]);
  assert.equal(bad.code, 1);
  assert.match(bad.out, /typo\.yaml:5: error schema: match\.0: unknown key 'min_isvsvm'/);
  assert.match(bad.out, /good\.yaml:6: warning debug_allowed/);

  const j = await cli(['policy', 'check', dir, '--json']);
  assert.equal(j.code, 1);
  const parsed = JSON.parse(j.out);
  assert.equal(parsed.ok, false);
  assert.equal(parsed.errors[0].line, 5);
  assert.equal(parsed.warnings[0].code, 'debug_allowed');

  const empty = policyDir('empty', {});
  assert.equal((await cli(['policy', 'check', empty])).code, 1);
  assert.equal((await cli(['policy', 'check', path.join(tmp, 'absent')])).code, 2);
});
