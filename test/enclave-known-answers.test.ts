// `warden enclave inspect` on real signed enclaves and Intel's Launch Enclave SIGSTRUCT, against values
// computed outside Warden (../shared/fixtures/enclaves/compute.py, its own parser; README there says how).
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { extractSigstruct, parseSigstruct } from '../src/dcap/sigstruct.ts';
import { run } from '../src/cli/enclave.ts';
import { OCCLUM_DEFAULT_MRSIGNER } from '../src/policy/lint.ts';
import { describeShared, sharedPath } from './helpers/shared.ts';
import { it } from 'node:test';

interface Expected {
  file: string;
  format: 'elf-sgxmeta' | 'sigstruct';
  mrenclave: string;
  mrsigner: string;
  isvprodid: number;
  isvsvn: number;
  debugAllowed: boolean;
  signatureValid: boolean;
  date: string;
  attributes: string;
  attributeMask: string;
  isvfamilyid: string;
  isvextprodid: string;
  metadataVersions?: string[];
}

describeShared('fixtures/enclaves', 'real signed enclaves give their independently computed identity', () => {
  const root = sharedPath('fixtures/enclaves');
  const cases = readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => ({ name: d.name, dir: join(root, d.name), expected: JSON.parse(readFileSync(join(root, d.name, 'expected.json'), 'utf8')) as Expected }));

  it('finds the four cases (three signed .so files and Intel\'s LE SIGSTRUCT)', () => {
    assert.equal(cases.length, 4);
    assert.deepEqual(cases.map((c) => c.expected.format).sort(), ['elf-sgxmeta', 'elf-sgxmeta', 'elf-sgxmeta', 'sigstruct']);
  });

  for (const c of cases) {
    const e = c.expected;
    it(`${c.name}: the parser gives MRENCLAVE, MRSIGNER, ISVPRODID, ISVSVN, debug and signature`, () => {
      const found = extractSigstruct(readFileSync(join(c.dir, e.file)));
      assert.equal(found.source, e.format === 'sigstruct' ? 'raw' : 'elf');
      if (e.metadataVersions) assert.ok(e.metadataVersions.includes(found.metadataVersion!), `${found.metadataVersion} in ${e.metadataVersions.join(', ')}`);
      const s = parseSigstruct(found.sigstruct);
      assert.equal(s.mrEnclave.toString('hex'), e.mrenclave);
      assert.equal(s.mrSigner.toString('hex'), e.mrsigner);
      assert.equal(s.isvProdId, e.isvprodid);
      assert.equal(s.isvSvn, e.isvsvn);
      assert.equal(s.debugAllowed, e.debugAllowed);
      assert.equal(s.signatureValid, e.signatureValid);
      assert.equal(s.date, e.date);
      assert.equal(s.attributes.toString('hex'), e.attributes);
      assert.equal(s.attributeMask.toString('hex'), e.attributeMask);
      assert.equal(s.isvFamilyId.toString('hex'), e.isvfamilyid);
      assert.equal(s.isvExtProdId.toString('hex'), e.isvextprodid);
    });

    it(`${c.name}: \`warden enclave inspect --json\` prints the same`, async () => {
      const out: string[] = [];
      const err: string[] = [];
      assert.equal(await run(['inspect', join(c.dir, e.file), '--json'], { out: (l) => out.push(l), err: (l) => err.push(l) }), 0, err.join('\n'));
      const j = JSON.parse(out.join('\n')) as Record<string, unknown>;
      assert.deepEqual(
        { mrenclave: j['mrenclave'], mrsigner: j['mrsigner'], isvprodid: j['isvprodid'], isvsvn: j['isvsvn'], debugAllowed: j['debugAllowed'], signatureValid: j['signatureValid'] },
        { mrenclave: e.mrenclave, mrsigner: e.mrsigner, isvprodid: e.isvprodid, isvsvn: e.isvsvn, debugAllowed: e.debugAllowed, signatureValid: true },
      );
      assert.equal(j['occlumDefaultSigner'], e.mrsigner === OCCLUM_DEFAULT_MRSIGNER);
    });
  }

  it("Occlum's default signing key has the MRSIGNER the policy linter warns about", () => {
    const signer = JSON.parse(readFileSync(join(root, 'occlum-default-signer.json'), 'utf8')) as { mrsigner: string };
    assert.equal(OCCLUM_DEFAULT_MRSIGNER, signer.mrsigner);
  });
});
