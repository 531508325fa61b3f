import { it } from 'node:test';
import assert from 'node:assert/strict';
import { SourceError } from '../src/collateral/errors.ts';
import { crlDer, signedParts } from '../src/collateral/item.ts';
import { INTEL_ROOT_ANCHOR, validateItem } from '../src/collateral/validate.ts';
import { loadFixtures } from './helpers/fixtures.ts';
import { describeShared } from './helpers/shared.ts';

function s1() {
  const f = loadFixtures().find((x) => x.name.startsWith('S1'))!;
  const c = JSON.parse(f.collateralText) as Record<string, string>;
  return { at: new Date(f.expected.at), c };
}

function rejects(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof SourceError && e.code === code);
}

describeShared('fixtures/dcap', 'collateral item checks on real Intel collateral', () => {
  it('takes the signed object text exactly as served, whatever the spacing around it', () => {
    const { at, c } = s1();
    const body = Buffer.from(`{\n  "tcbInfo" :  ${c.tcb_info!} ,\n  "signature": "${c.tcb_info_signature!}"\n}\n`);
    assert.equal(signedParts(body, 'tcb_info').text, c.tcb_info);
    const d = validateItem({ kind: 'tcb_info', key: '00a067110000' }, body, c.tcb_info_issuer_chain!, INTEL_ROOT_ANCHOR, at);
    assert.equal(d.nextUpdate.toISOString(), '2025-07-19T10:56:11.000Z');
  });

  it('refuses TCB Info for another FMSPC, a re-serialised object, a bad chain', () => {
    const { at, c } = s1();
    const body = Buffer.from(`{"tcbInfo":${c.tcb_info!},"signature":"${c.tcb_info_signature!}"}`);
    rejects(() => validateItem({ kind: 'tcb_info', key: '00906ed50000' }, body, c.tcb_info_issuer_chain!, INTEL_ROOT_ANCHOR, at), 'tcb_info_mismatch');
    const pretty = Buffer.from(`{"tcbInfo":${JSON.stringify(JSON.parse(c.tcb_info!), null, 1)},"signature":"${c.tcb_info_signature!}"}`);
    rejects(() => validateItem({ kind: 'tcb_info', key: '00a067110000' }, pretty, c.tcb_info_issuer_chain!, INTEL_ROOT_ANCHOR, at), 'signature_invalid');
    // The PCK CRL's chain (Processor CA, root) did not sign TCB Info: its signer is not the TCB Signing certificate.
    rejects(() => validateItem({ kind: 'tcb_info', key: '00a067110000' }, body, c.pck_crl_issuer_chain!, INTEL_ROOT_ANCHOR, at), 'invalid_certificate_chain');
    rejects(() => validateItem({ kind: 'tcb_info', key: '00a067110000' }, body, '', INTEL_ROOT_ANCHOR, at), 'malformed_collateral');
    rejects(() => validateItem({ kind: 'tcb_info', key: '00a067110000' }, Buffer.from('<html></html>'), c.tcb_info_issuer_chain!, INTEL_ROOT_ANCHOR, at), 'malformed_collateral');
    rejects(() => validateItem({ kind: 'tcb_info', key: '00a067110000' }, body, c.tcb_info_issuer_chain!, INTEL_ROOT_ANCHOR, new Date('2025-08-01T00:00:00Z')), 'collateral_expired');
  });

  it('reads a CRL served as DER, PEM or hex text to the same DER', () => {
    const { at, c } = s1();
    const der = Buffer.from(c.pck_crl!, 'hex');
    const pem = `-----BEGIN X509 CRL-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END X509 CRL-----\n`;
    for (const raw of [der, Buffer.from(pem), Buffer.from(c.pck_crl!)]) {
      assert.deepEqual(crlDer({ raw }), der);
      validateItem({ kind: 'pck_crl', key: 'processor' }, raw, c.pck_crl_issuer_chain!, INTEL_ROOT_ANCHOR, at);
    }
    rejects(() => validateItem({ kind: 'pck_crl', key: 'platform' }, der, c.pck_crl_issuer_chain!, INTEL_ROOT_ANCHOR, at), 'crl_mismatch');
    // The root CA CRL is not a PCK CRL, and a PCK CRL is not the root's.
    rejects(() => validateItem({ kind: 'pck_crl', key: 'processor' }, Buffer.from(c.root_ca_crl!, 'hex'), c.pck_crl_issuer_chain!, INTEL_ROOT_ANCHOR, at), 'crl_mismatch');
    assert.throws(() => validateItem({ kind: 'root_ca_crl', key: '' }, der, '', INTEL_ROOT_ANCHOR, at), SourceError);
    const truncated = der.subarray(0, der.length - 10);
    rejects(() => validateItem({ kind: 'pck_crl', key: 'processor' }, truncated, c.pck_crl_issuer_chain!, INTEL_ROOT_ANCHOR, at), 'malformed_collateral');
  });
});
