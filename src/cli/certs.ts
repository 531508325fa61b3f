// `warden certs init`: a development CA and a server certificate for HTTPS.
import fs from 'node:fs';
import { createDevCerts, devCertPaths } from '../server/dev-certs.ts';
import { CliError, JSON_FLAG, UsageError, parseFlags, renderGroupHelp, renderHelp, unknownSubcommand, type CommandHelp, type Io } from './io.ts';

/** Always in the certificate: the README's and the banner's URLs use them. */
const LOCAL_HOSTS = ['localhost', '127.0.0.1', '::1'];

const SUBS = {
  init: {
    synopsis: 'certs init [--dir DIR] [--hosts NAME,...] [--force]',
    summary: 'create a development CA (DIR/ca.pem, clients pin it) and a server certificate and key for HTTPS',
    flags: {
      dir: { type: 'string', arg: 'DIR', help: 'where to write ca.pem, server.pem, server.key (default certs)' },
      hosts: { type: 'string', arg: 'NAME,...', help: `more host names or IP addresses for the server certificate (${LOCAL_HOSTS.join(', ')} are always in it)` },
      force: { type: 'boolean', help: 'replace existing files' },
      ...JSON_FLAG,
    },
    notes: 'Existing certificates are refused (exit 1) unless --force. In production use your own PKI: serve --tls-cert/--tls-key.',
  },
} as const satisfies Record<string, CommandHelp>;

export function help(): string {
  return renderHelp(SUBS.init);
}

export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined) {
    io.err(renderGroupHelp('certs', 'Development TLS certificates.', SUBS));
    return 2;
  }
  if (sub !== 'init') throw unknownSubcommand('certs', sub, ['init']);
  const { values } = parseFlags(rest, SUBS.init.flags);
  const dir = values.dir ?? 'certs';
  const given = (values.hosts ?? '').split(',').map((h) => h.trim()).filter(Boolean);
  if (values.hosts !== undefined && !given.length) throw new UsageError('--hosts needs at least one host name or IP address');
  const hosts = [...new Set([...given, ...LOCAL_HOSTS])];
  const p = devCertPaths(dir);
  if (!values.force && [p.caCert, p.serverCert, p.serverKey].some((f) => fs.existsSync(f))) {
    throw new CliError('file_exists', `${dir} already holds certificates (use --force to replace them)`);
  }
  await createDevCerts(dir, hosts);
  if (values.json) {
    io.out(JSON.stringify({ ok: true, ca: p.caCert, cert: p.serverCert, key: p.serverKey, hosts }));
  } else {
    io.out(`development CA:      ${p.caCert}  (clients pin this, e.g. curl --cacert ${p.caCert})`);
    io.out(`server certificate:  ${p.serverCert}  for ${hosts.join(', ')}`);
    io.out(`server key:          ${p.serverKey}  (mode 0600)`);
  }
  io.err('warning: these are development certificates; use certificates from your own PKI in production (--tls-cert/--tls-key)');
  return 0;
}
