// `warden verify --batch FILE|-`: one verdict line per input line, in order, each the `verify --json`
// object plus its id; paths relative to the batch file; malformed lines answered and the batch goes on.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SimPki } from '../src/sim/pki.ts';
import { makeCollateral } from '../src/sim/collateral.ts';
import { collateralToJson } from '../src/dcap/collateral-json.ts';
import { makeQuote } from '../src/sim/quote.ts';
import { warden } from './helpers/cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 'warden-batch-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const at = new Date();
const AT = at.toISOString();

type Line = { id: unknown; ok: boolean; status: string | null; error: { code: string; message: string } | null; [k: string]: unknown };
const lines = (stdout: string): Line[] => stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Line);

describe('warden verify --batch', () => {
  before(async () => {
    const pki = await SimPki.create({ at });
    const p = await pki.platform({}, at);
    const revoked = await pki.platform({ fmspc: '00a067110000' }, at);
    mkdirSync(join(tmp, 'cases', 'sub'), { recursive: true });
    writeFileSync(join(tmp, 'cases', 'root.pem'), pki.rootPem);
    writeFileSync(join(tmp, 'cases', 'q.bin'), makeQuote({ platform: p }));
    writeFileSync(join(tmp, 'cases', 'sub', 'q.hex'), makeQuote({ platform: p, version: 4 }).toString('hex'));
    writeFileSync(join(tmp, 'cases', 'c.json'), JSON.stringify(collateralToJson(await makeCollateral(pki, { at, platform: p }))));
    writeFileSync(join(tmp, 'cases', 'rq.bin'), makeQuote({ platform: revoked }));
    writeFileSync(join(tmp, 'cases', 'rc.json'), JSON.stringify(collateralToJson(await makeCollateral(pki, { at, platform: revoked, pckCrl: { revoked: [revoked.serialNumber] } }))));
  });

  it('answers each line in order with the verify --json object plus its id; paths are relative to the batch file', () => {
    const batch = [
      { quote: 'q.bin', collateral: 'c.json', rootCa: 'root.pem', at: AT, id: 'first' },
      { quote: 'sub/q.hex', collateral: 'c.json', rootCa: 'root.pem', at: AT, id: 2 },
      { quote: 'rq.bin', collateral: 'rc.json', rootCa: 'root.pem', at: AT, id: { n: 3 } },
      { quote: 'q.bin', collateral: 'c.json', at: AT, id: 'default root' },
      { quote: 'q.bin', collateral: 'c.json', rootCa: 'root.pem' },
    ];
    writeFileSync(join(tmp, 'cases', 'batch.jsonl'), batch.map((l) => JSON.stringify(l)).join('\n') + '\n');
    // Run from elsewhere: the paths resolve against the batch file's folder, not the working directory.
    const r = warden(['verify', '--batch', join(tmp, 'cases', 'batch.jsonl')], { cwd: tmp });
    assert.equal(r.status, 1, r.stderr);
    const out = lines(r.stdout);
    assert.equal(out.length, batch.length);
    assert.deepEqual(out.map((l) => l.id), ['first', 2, { n: 3 }, 'default root', null]);
    assert.deepEqual(out.map((l) => l.ok), [true, true, false, false, true]);
    assert.equal(out[2]!.error!.code, 'revoked');
    assert.equal(out[3]!.error!.code, 'untrusted_root', 'without rootCa the Intel root is pinned');
    // Each line is exactly what a fresh `warden verify --json` prints for it, plus the id.
    for (const [i, c] of [[0, batch[0]!], [2, batch[2]!]] as const) {
      const one = warden(['verify', '--json', '--quote', c.quote, '--collateral', c.collateral, '--root-ca', c.rootCa!, '--at', c.at!], { cwd: join(tmp, 'cases') });
      const { id, ...rest } = out[i]!;
      assert.ok(id !== undefined);
      assert.deepEqual(rest, JSON.parse(one.stdout));
    }
  });

  it('exits 0 when every line verified; --root-ca and --at give defaults for lines without them; reads stdin for -', () => {
    const input = ['{"quote":"q.bin","collateral":"c.json"}', '{"quote":"sub/q.hex","collateral":"c.json","id":7}'].join('\r\n');
    const r = warden(['verify', '--batch', '-', '--root-ca', 'root.pem', '--at', AT], { cwd: join(tmp, 'cases'), input });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.deepEqual(lines(r.stdout).map((l) => [l.id, l.status]), [[null, 'UpToDate'], [7, 'UpToDate']]);
    const empty = warden(['verify', '--batch', '-'], { input: '' });
    assert.equal(empty.status, 0);
    assert.equal(empty.stdout, '');
  });

  it('a malformed line gets its own error line and the batch goes on', () => {
    const input = [
      'not json',
      '',
      '[1,2]',
      '{"quote":"q.bin","id":"no collateral"}',
      '{"quote":"nope.bin","collateral":"c.json","id":"missing file"}',
      '{"quote":"q.bin","collateral":"c.json","at":"yesterday","id":"bad at"}',
      '{"quote":"q.bin","collateral":"c.json","rootca":"root.pem","id":"typo"}',
      '{"quote":"q.bin","collateral":"root.pem","rootCa":"root.pem","at":"' + AT + '","id":"not collateral"}',
      '{"quote":"c.json","collateral":"c.json","rootCa":"root.pem","at":"' + AT + '","id":"not a quote"}',
      '{"quote":"q.bin","collateral":"c.json","rootCa":"root.pem","at":"' + AT + '","id":"fine"}',
    ].join('\n');
    const r = warden(['verify', '--batch', '-'], { cwd: join(tmp, 'cases'), input });
    assert.equal(r.status, 1);
    const out = lines(r.stdout);
    assert.equal(out.length, 10);
    assert.deepEqual(
      out.map((l) => [l.id, l.error?.code ?? l.status]),
      [
        [null, 'invalid_batch_line'],
        [null, 'invalid_batch_line'],
        [null, 'invalid_batch_line'],
        ['no collateral', 'invalid_batch_line'],
        ['missing file', 'invalid_batch_line'],
        ['bad at', 'invalid_batch_line'],
        ['typo', 'invalid_batch_line'],
        ['not collateral', 'malformed_collateral'],
        ['not a quote', 'unsupported_quote'],
        ['fine', 'UpToDate'],
      ],
    );
    assert.match(out[4]!.error!.message, /nope\.bin/);
    assert.doesNotMatch(r.stdout + r.stderr, /at .*\.ts:\d+/);
  });

  it('usage errors exit 2: a missing batch file, a bad --at, --batch with --quote', () => {
    for (const args of [
      ['verify', '--batch', join(tmp, 'no-such.jsonl')],
      ['verify', '--batch', '-', '--at', 'soon'],
      ['verify', '--batch', '-', '--quote', 'q.bin'],
      ['verify', '--batch', '-', '--root-ca', 'no-such.pem'],
    ]) {
      const r = warden(args, { cwd: join(tmp, 'cases'), input: '' });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^warden verify: /);
    }
  });
});
