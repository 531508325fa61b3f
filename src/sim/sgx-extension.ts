// DER of the Intel SGX extension (OID 1.2.840.113741.1.13.1) carried by PCK leaf certificates.
import * as asn1js from 'asn1js';

export const SGX_EXTENSION_OID = '1.2.840.113741.1.13.1';

export interface SgxExtensionFields {
  ppid: Buffer; // 16
  tcbComponents: number[]; // 16 SVNs (a test may pass another count)
  pceSvn: number;
  cpuSvn: Buffer; // 16
  pceId: Buffer; // 2
  fmspc: Buffer; // 6
  sgxType: number; // 0 Standard, 1 Scalable, 2 Scalable with Integrity
  /** Platform-CA certificates only. */
  platformInstanceId?: Buffer; // 16
  configuration?: { dynamicPlatform: boolean; cachedKeys: boolean; smtEnabled: boolean };
}

const oid = (suffix: string) => new asn1js.ObjectIdentifier({ value: `${SGX_EXTENSION_OID}.${suffix}` });
const pair = (suffix: string, value: asn1js.AsnType) => new asn1js.Sequence({ value: [oid(suffix), value] });
const octets = (b: Buffer) => new asn1js.OctetString({ valueHex: new Uint8Array(b) });

/** Same element order as Intel's PCS: .1 PPID, .2 TCB (.2.1-.2.16, .2.17 PCESVN, .2.18 CPUSVN), .3, .4, .5 [, .6, .7]. */
export function encodeSgxExtension(f: SgxExtensionFields): Buffer {
  const tcb = f.tcbComponents.map((svn, i) => pair(`2.${i + 1}`, new asn1js.Integer({ value: svn })));
  tcb.push(pair('2.17', new asn1js.Integer({ value: f.pceSvn })));
  tcb.push(pair('2.18', octets(f.cpuSvn)));
  const items: asn1js.AsnType[] = [
    pair('1', octets(f.ppid)),
    pair('2', new asn1js.Sequence({ value: tcb })),
    pair('3', octets(f.pceId)),
    pair('4', octets(f.fmspc)),
    pair('5', new asn1js.Enumerated({ value: f.sgxType })),
  ];
  if (f.platformInstanceId) items.push(pair('6', octets(f.platformInstanceId)));
  if (f.configuration) {
    const c = f.configuration;
    items.push(
      pair(
        '7',
        new asn1js.Sequence({
          value: [
            pair('7.1', new asn1js.Boolean({ value: c.dynamicPlatform })),
            pair('7.2', new asn1js.Boolean({ value: c.cachedKeys })),
            pair('7.3', new asn1js.Boolean({ value: c.smtEnabled })),
          ],
        }),
      ),
    );
  }
  return Buffer.from(new asn1js.Sequence({ value: items }).toBER());
}
