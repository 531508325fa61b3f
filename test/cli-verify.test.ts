// `warden verify`: the interface the held-out corpus calls, kept exactly as documented.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import { warden } from './helpers/cli.ts';
import { REPO_ROOT, loadFixtures } from './helpers/fixtures.ts';
import { describeShared } from './helpers/shared.ts';

const tmp = mkdtempSync(join(tmpdir(), 'warden-cli-verify-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describeShared('fixtures/dcap', 'warden verify', () => {
  const fixtures = loadFixtures();
  const s1 = fixtures.find((f) => f.name.startsWith('S1'))!;
  const args = (quotePath: string, extra: string[] = []) => ['verify', '--quote', quotePath, '--collateral', join(s1.dir, 'collateral.json'), '--at', s1.expected.at, ...extra];

  it('prints one JSON object with the documented fields and exits 0 when verified', () => {
    const r = warden(args(join(s1.dir, 'quote.bin'), ['--json']));
    assert.equal(r.status, 0, r.stderr);
    const json = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json).sort(), ['advisoryIds', 'collateralExpiresAt', 'error', 'ok', 'report', 'status', 'tcbDate']);
    assert.equal(json.ok, true);
    assert.equal(json.status, s1.expected.status);
    assert.deepEqual(json.report, s1.expected.report);
    assert.equal(json.error, null);
  });

  it('reads quotes given as hex or base64 text', () => {
    for (const [name, text] of [
      ['q.hex', s1.quote.toString('hex') + '\n'],
      ['q.b64', s1.quote.toString('base64')],
    ] as const) {
      writeFileSync(join(tmp, name), text);
      const r = warden(args(join(tmp, name), ['--json']));
      assert.equal(r.status, 0, `${name}: ${r.stdout}${r.stderr}`);
    }
  });

  it('exits 1 with a typed error when rejected (expired collateral, default Intel root)', () => {
    const r = warden(['verify', '--quote', join(s1.dir, 'quote.bin'), '--collateral', join(s1.dir, 'collateral.json'), '--at', '2026-01-01T00:00:00Z', '--json']);
    assert.equal(r.status, 1);
    const json = JSON.parse(r.stdout) as { ok: boolean; error: { code: string }; report: unknown };
    assert.equal(json.ok, false);
    assert.equal(json.error.code, 'collateral_expired');
    assert.deepEqual(json.report, s1.expected.report);
  });

  it('exits 1 with malformed_quote for garbage, and never prints a stack trace', () => {
    writeFileSync(join(tmp, 'garbage.bin'), Buffer.from('03000200deadbeef', 'hex'));
    const r = warden(args(join(tmp, 'garbage.bin'), ['--json']));
    assert.equal(r.status, 1);
    assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'malformed_quote');
    assert.doesNotMatch(r.stdout + r.stderr, /at .*\.ts:\d+/);
  });

  it('exits 1 with malformed_collateral for a collateral file that is not collateral', () => {
    writeFileSync(join(tmp, 'bad-collateral.json'), '{"tcb_info": 3}');
    const r = warden(['verify', '--quote', join(s1.dir, 'quote.bin'), '--collateral', join(tmp, 'bad-collateral.json'), '--json']);
    assert.equal(r.status, 1);
    assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'malformed_collateral');
  });

  it('exits 2 with one line for usage errors', () => {
    for (const bad of [
      ['verify', '--quote', join(tmp, 'missing.bin'), '--collateral', join(s1.dir, 'collateral.json')],
      ['verify', '--collateral', join(s1.dir, 'collateral.json')],
      ['verify', '--quote', join(s1.dir, 'quote.bin')],
      ['verify', '--bogus'],
      ['verify', '--quote', join(s1.dir, 'quote.bin'), '--collateral', join(s1.dir, 'collateral.json'), '--at', 'yesterday'],
    ]) {
      const r = warden(bad);
      assert.equal(r.status, 2, `${bad.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });

  it('reads an --at without a zone as UTC, whatever the host time zone', () => {
    const zoneless = s1.expected.at.replace(/Z$/, '');
    for (const at of [zoneless, zoneless.replace('T', ' ')]) {
      const r = warden(['verify', '--quote', join(s1.dir, 'quote.bin'), '--collateral', join(s1.dir, 'collateral.json'), '--at', at, '--json'], {
        env: { ...process.env, TZ: 'America/New_York' },
      });
      assert.equal(r.status, 0, `${at}: ${r.stdout}${r.stderr}`);
    }
  });

  it('prints a human summary without --json', () => {
    const r = warden(args(join(s1.dir, 'quote.bin')));
    assert.equal(r.status, 0);
    assert.match(r.stdout, /verified: TCB status ConfigurationAndSWHardeningNeeded/);
  });
});

describe('warden output', () => {
  it('stops quietly when its reader goes away (warden ... | head), never with a stack trace', () => {
    const r = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" bin/warden.js --help | true; "${process.execPath}" bin/warden.js policy check policies | true`], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
  });
});
