// Development TLS: a local CA and a server certificate signed by it (@peculiar/x509, P-256).
import 'reflect-metadata';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import * as x509 from '@peculiar/x509';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86400_000;

export interface DevCertPaths {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
}

export function devCertPaths(dir: string): DevCertPaths {
  return {
    dir,
    caCert: path.join(dir, 'ca.pem'),
    caKey: path.join(dir, 'ca.key'),
    serverCert: path.join(dir, 'server.pem'),
    serverKey: path.join(dir, 'server.key'),
  };
}

async function pkcs8Pem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await crypto.webcrypto.subtle.exportKey('pkcs8', key));
  return x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n';
}

/**
 * Make a CA (kept in `dir` so more server certificates can be issued) and a server certificate for
 * `hosts` (DNS names and IP addresses). Private keys are written 0600.
 */
export async function createDevCerts(dir: string, hosts: string[], validDays = 825): Promise<DevCertPaths> {
  x509.cryptoProvider.set(crypto.webcrypto as unknown as Crypto);
  const p = devCertPaths(dir);
  fs.mkdirSync(dir, { recursive: true });
  const now = new Date();
  const notBefore = new Date(now.getTime() - DAY);
  const caKeys = (await crypto.webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: crypto.randomBytes(16).toString('hex').replace(/^[89a-f]/, '1'),
    name: 'CN=Warden development CA, O=Warden (development only)',
    notBefore,
    notAfter: new Date(now.getTime() + 10 * 365 * DAY),
    keys: caKeys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const srvKeys = (await crypto.webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const names = hosts.map((h) => (net.isIP(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h }));
  const server = await x509.X509CertificateGenerator.create({
    serialNumber: crypto.randomBytes(16).toString('hex').replace(/^[89a-f]/, '1'),
    subject: `CN=${hosts[0] ?? 'localhost'}`,
    issuer: ca.subject,
    notBefore,
    notAfter: new Date(now.getTime() + validDays * DAY),
    publicKey: srvKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(ca, false),
      await x509.SubjectKeyIdentifierExtension.create(srvKeys.publicKey),
    ],
  });
  fs.writeFileSync(p.caKey, await pkcs8Pem(caKeys.privateKey), { mode: 0o600 });
  fs.writeFileSync(p.serverKey, await pkcs8Pem(srvKeys.privateKey), { mode: 0o600 });
  fs.writeFileSync(p.caCert, ca.toString('pem') + '\n');
  fs.writeFileSync(p.serverCert, server.toString('pem') + '\n' + ca.toString('pem') + '\n');
  return p;
}
