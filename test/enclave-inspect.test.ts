import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { extractSigstruct, parseSigstruct, SigstructError } from '../src/dcap/sigstruct.ts';
import { run } from '../src/cli/enclave.ts';
import { parsePolicyText } from '../src/policy/parse.ts';
import { makePolicySet } from '../src/policy/load.ts';
import { evaluate } from '../src/policy/evaluate.ts';
import { buildEnclaveElf, buildSigstruct, metadataRecord, signingKey } from './enclave-helpers.ts';

let dir: string;
const mrEnclave = Buffer.from('5a'.repeat(16) + 'c3'.repeat(16), 'hex');

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

function write(name: string, data: Buffer): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return p;
}

/** MRSIGNER computed independently of the parser: SHA-256 of the modulus in little-endian order. */
function expectedMrSigner(): string {
  const n = Buffer.from(signingKey().publicKey.export({ format: 'jwk' }).n as string, 'base64url');
  return createHash('sha256').update(Buffer.from(n).reverse()).digest('hex');
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-enclave-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('a raw SIGSTRUCT gives MRENCLAVE, MRSIGNER, ISVPRODID, ISVSVN and a verified signature', () => {
  const css = buildSigstruct({ mrEnclave, isvProdId: 7, isvSvn: 4, debuggable: false });
  const found = extractSigstruct(css);
  assert.equal(found.source, 'raw');
  const s = parseSigstruct(found.sigstruct);
  assert.equal(s.mrEnclave.toString('hex'), mrEnclave.toString('hex'));
  assert.equal(s.mrSigner.toString('hex'), expectedMrSigner());
  assert.equal(s.isvProdId, 7);
  assert.equal(s.isvSvn, 4);
  assert.equal(s.debugAllowed, false);
  assert.equal(s.signatureValid, true);
  assert.equal(s.date, '2025-03-14');
});

test('a debuggable signature (DEBUG not enforced by the attribute mask) is reported', () => {
  const s = parseSigstruct(buildSigstruct({ mrEnclave, isvProdId: 1, isvSvn: 1, debuggable: true }));
  assert.equal(s.debugAllowed, true);
});

test('a modified SIGSTRUCT body no longer verifies', () => {
  const css = buildSigstruct({ mrEnclave, isvProdId: 1, isvSvn: 1, debuggable: false });
  css.writeUInt16LE(9, 1026); // raise ISVSVN after signing
  assert.equal(parseSigstruct(css).signatureValid, false);
});

test('MRSIGNER follows the modulus; a replaced modulus no longer verifies', () => {
  const other = buildSigstruct({ mrEnclave, isvProdId: 1, isvSvn: 1, debuggable: false });
  const s1 = parseSigstruct(other);
  assert.equal(s1.mrSigner.toString('hex'), expectedMrSigner());
  // Same content, modulus replaced by random bytes: the hash follows the modulus, the signature fails.
  const forged = Buffer.from(other);
  randomBytes(384).copy(forged, 128);
  forged[128 + 383] = 0xff;
  const s2 = parseSigstruct(forged);
  assert.notEqual(s2.mrSigner.toString('hex'), s1.mrSigner.toString('hex'));
  assert.equal(s2.signatureValid, false);
});

test('the SIGSTRUCT is found in a signed enclave ELF; the newest metadata record wins', () => {
  const oldCss = buildSigstruct({ mrEnclave: Buffer.alloc(32, 1), isvProdId: 2, isvSvn: 1, debuggable: false });
  const newCss = buildSigstruct({ mrEnclave, isvProdId: 2, isvSvn: 3, debuggable: false });
  const elf = buildEnclaveElf([metadataRecord(oldCss, 2, 4), metadataRecord(newCss, 3, 0)]);
  const found = extractSigstruct(elf);
  assert.equal(found.source, 'elf');
  assert.equal(found.metadataVersion, '3.0');
  assert.equal(parseSigstruct(found.sigstruct).isvSvn, 3);
  assert.equal(parseSigstruct(found.sigstruct).mrEnclave.toString('hex'), mrEnclave.toString('hex'));
});

test('bad inputs give stable error codes, never a crash', () => {
  const css = buildSigstruct({ mrEnclave, isvProdId: 2, isvSvn: 3, debuggable: false });
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof SigstructError, String(e));
      return e.code;
    }
    return 'no error';
  };
  assert.equal(code(() => extractSigstruct(Buffer.from('hello world'))), 'not_an_enclave');
  assert.equal(code(() => extractSigstruct(buildEnclaveElf([metadataRecord(css, 3, 0)], { sectionName: '.note.other' }))), 'no_sgx_metadata');
  const elf = buildEnclaveElf([metadataRecord(css, 3, 0)]);
  assert.equal(code(() => extractSigstruct(elf.subarray(0, 40))), 'malformed_elf');
  const badShoff = Buffer.from(elf);
  badShoff.writeBigUInt64LE(BigInt(elf.length + 100), 0x28);
  assert.equal(code(() => extractSigstruct(badShoff)), 'malformed_elf');
  const truncatedRecord = buildEnclaveElf([metadataRecord(css, 3, 0).subarray(0, 1000)]);
  assert.equal(code(() => extractSigstruct(truncatedRecord)), 'malformed_elf');
  const badMagic = buildEnclaveElf([Buffer.alloc(4096)]);
  assert.equal(code(() => extractSigstruct(badMagic)), 'no_sgx_metadata');
  const wrongHeader = Buffer.from(css);
  wrongHeader[24] = 9;
  assert.equal(code(() => parseSigstruct(wrongHeader)), 'malformed_sigstruct');
  assert.equal(code(() => parseSigstruct(css.subarray(0, 1000))), 'malformed_sigstruct');
});

test('warden enclave inspect prints the identity of a signed .so', async () => {
  const css = buildSigstruct({ mrEnclave, isvProdId: 12, isvSvn: 5, debuggable: true });
  const file = write('libocclum-libos.signed.so', buildEnclaveElf([metadataRecord(css, 3, 0)]));
  const c = capture();
  assert.equal(await run(['inspect', file], c.io), 0);
  const text = c.out.join('\n');
  assert.match(text, new RegExp(`mrenclave:\\s+${mrEnclave.toString('hex')}`));
  assert.match(text, new RegExp(`mrsigner:\\s+${expectedMrSigner()}`));
  assert.match(text, /isvprodid:\s+12/);
  assert.match(text, /isvsvn:\s+5/);
  assert.match(text, /debug:\s+allowed/);

  const j = capture();
  assert.equal(await run(['inspect', file, '--json'], j.io), 0);
  const parsed = JSON.parse(j.out.join('\n'));
  assert.equal(parsed.mrenclave, mrEnclave.toString('hex'));
  assert.equal(parsed.mrsigner, expectedMrSigner());
  assert.equal(parsed.isvprodid, 12);
  assert.equal(parsed.isvsvn, 5);
  assert.equal(parsed.debugAllowed, true);
});

test('warden enclave inspect refuses a tampered file and unknown input with exit 1', async () => {
  const css = buildSigstruct({ mrEnclave, isvProdId: 1, isvSvn: 1, debuggable: false });
  css.writeUInt8(css.readUInt8(960) ^ 1, 960); // change MRENCLAVE after signing
  const c = capture();
  assert.equal(await run(['inspect', write('tampered.sigstruct', css)], c.io), 1);
  assert.match(c.err.join('\n'), /signature_invalid/);
  const d = capture();
  assert.equal(await run(['inspect', write('junk.bin', Buffer.from('not an enclave'))], d.io), 1);
  assert.match(d.err.join('\n'), /not_an_enclave/);
});

test('warden enclave inspect usage errors', async () => {
  await assert.rejects(run(['inspect'], capture().io), /exactly one FILE/);
  await assert.rejects(run(['inspect', path.join(dir, 'missing.so')], capture().io), /cannot read/);
  await assert.rejects(run(['frobnicate'], capture().io), /unknown sub-command/);
  await assert.rejects(run(['inspect', 'x', '--policy', 'Bad Name'], capture().io), /policy name/);
});

test('--policy prints a policy file that loads cleanly and admits exactly this enclave', async () => {
  const css = buildSigstruct({ mrEnclave, isvProdId: 3, isvSvn: 2, debuggable: true });
  const file = write('enclave.sigstruct', css);
  const c = capture();
  assert.equal(await run(['inspect', file, '--policy', 'billing', '--secret', 'billing-key'], c.io), 0);
  const parsed = parsePolicyText('billing.yaml', c.out.join('\n'));
  assert.deepEqual(parsed.issues, []);
  assert.ok(parsed.policy);
  const set = makePolicySet([parsed.policy]);
  const s = parseSigstruct(css);
  const verification = {
    status: 'UpToDate' as const,
    advisoryIds: [],
    tcbDate: '2024-03-13T00:00:00Z',
    collateralIssuedAt: new Date('2025-01-01T00:00:00Z'),
    report: {
      mrEnclave: s.mrEnclave,
      mrSigner: s.mrSigner,
      isvProdId: s.isvProdId,
      isvSvn: s.isvSvn,
      configSvn: 0,
      isvFamilyId: Buffer.alloc(16),
      isvExtProdId: Buffer.alloc(16),
      configId: Buffer.alloc(64),
      debug: false,
    },
  };
  const now = new Date('2025-01-02T00:00:00Z');
  const allowed = evaluate(set, verification, { now });
  assert.equal(allowed.allowed, true);
  assert.deepEqual(allowed.secrets, ['billing-key']);
  // The generated policy refuses the same enclave launched in debug mode, and an older ISVSVN.
  assert.equal(evaluate(set, { ...verification, report: { ...verification.report, debug: true } }, { now }).allowed, false);
  assert.equal(evaluate(set, { ...verification, report: { ...verification.report, isvSvn: 1 } }, { now }).allowed, false);
});
