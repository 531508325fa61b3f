// `warden certs init`: a development CA and a server certificate for HTTPS.
import fs from 'node:fs';
import { createDevCerts, devCertPaths } from '../server/dev-certs.ts';
import { UsageError, parseFlags, type Io } from './io.ts';

export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'init') throw new UsageError('usage: warden certs init [--dir certs] [--hosts localhost,127.0.0.1] [--force]');
  const { values } = parseFlags(rest, {
    dir: { type: 'string', default: 'certs' },
    hosts: { type: 'string', default: 'localhost,127.0.0.1,::1' },
    force: { type: 'boolean', default: false },
  });
  const dir = values.dir ?? 'certs';
  const hosts = (values.hosts ?? '').split(',').map((h) => h.trim()).filter(Boolean);
  if (!hosts.length) throw new UsageError('--hosts needs at least one host name or IP address');
  const p = devCertPaths(dir);
  if (!values.force && [p.caCert, p.serverCert, p.serverKey].some((f) => fs.existsSync(f))) {
    throw new UsageError(`${dir} already holds certificates (use --force to replace them)`);
  }
  await createDevCerts(dir, hosts);
  io.out(`development CA:      ${p.caCert}  (clients pin this, e.g. curl --cacert ${p.caCert})`);
  io.out(`server certificate:  ${p.serverCert}  for ${hosts.join(', ')}`);
  io.out(`server key:          ${p.serverKey}  (mode 0600)`);
  io.err('warning: these are development certificates; use certificates from your own PKI in production (--tls-cert/--tls-key)');
  return 0;
}
