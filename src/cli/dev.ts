// Development mode's teaching aids, which exist only under --dev: the built-in demo policies `dev-demo` (the
// simulator's default enclave) and `dev-demo-td` (the simulator's default TD), the demo secret `demo-sefs-key`
// they release, and the development admin token.
// Nothing here is written into the policy directory or the secrets table, so a server started without
// --dev on the same directories never has them.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { PolicyFileText } from '../policy/load.ts';
import type { AuditedByLike, SecretMetaLike, SecretStoreLike } from '../server/deps.ts';
import { SIM_ENCLAVE } from '../sim/report.ts';
import { SIM_TD } from '../sim/td-report.ts';
import type { AdminTokens } from '../store/admin-tokens.ts';
import { StoreError } from '../store/errors.ts';

export const DEV_DEMO_POLICY = 'dev-demo';
export const DEV_DEMO_TD_POLICY = 'dev-demo-td';
export const DEV_DEMO_SECRET = { name: 'demo-sefs-key', kind: 'sefs-key', version: 1 } as const;
/** Where the built-in policies say they come from (file names in warnings, policy test output). */
export const DEV_DEMO_SOURCE = '(built into --dev) dev-demo.yaml';
const DEV_DEMO_TD_SOURCE = '(built into --dev) dev-demo-td.yaml';

const DESCRIPTION = 'description: Built into warden serve --dev only (simulated trust root); never loaded without --dev.';

/**
 * The demo policies: the simulator's default enclave (as `warden sim quote` and `client attest --dev` make it),
 * and the simulator's default TD (`sim quote --tee tdx`, `client attest --dev --tee tdx`), pinned by MRTD and the
 * RTMRs of its firmware, kernel and command line.
 */
export function devDemoPolicyFiles(): PolicyFileText[] {
  const hex = (b: Buffer) => b.toString('hex');
  const tail = ['debug: deny', 'tcb:', '  statuses: [UpToDate]', 'secrets:', `  - ${DEV_DEMO_SECRET.name}`, ''];
  return [
    { file: DEV_DEMO_SOURCE, text: [`name: ${DEV_DEMO_POLICY}`, 'version: 1', DESCRIPTION, 'match:', `  - mrenclave: ${hex(SIM_ENCLAVE.mrEnclave)}`, ...tail].join('\n') },
    {
      file: DEV_DEMO_TD_SOURCE,
      text: [
        `name: ${DEV_DEMO_TD_POLICY}`,
        'version: 1',
        DESCRIPTION,
        'tee: tdx',
        'match:',
        `  - mrtd: ${hex(SIM_TD.mrTd)}`,
        `    rtmr0: ${hex(SIM_TD.rtmr0)}`,
        `    rtmr1: ${hex(SIM_TD.rtmr1)}`,
        `    rtmr2: ${hex(SIM_TD.rtmr2)}`,
        ...tail,
      ].join('\n'),
    },
  ];
}

/** Lint warnings about the built-in policies are ours, not the operator's: keep them out of their output. */
export function isBuiltIn(w: { file: string }): boolean {
  return w.file === DEV_DEMO_SOURCE || w.file === DEV_DEMO_TD_SOURCE;
}

/**
 * The demo secret's value: derived from the development master key, so it is stable across restarts
 * of one data directory, differs between data directories, and is never stored.
 */
function demoValue(masterKey: Buffer): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', masterKey, Buffer.alloc(0), `warden/v1 dev-demo ${DEV_DEMO_SECRET.name}`, 16));
}

const DEMO_CREATED = '1970-01-01T00:00:00.000Z';

/**
 * The server's secret store in --dev: the stored secrets, plus the demo secret when no stored secret
 * has its name. The demo secret cannot be created, rotated or deleted.
 */
export class DevSecretStore implements SecretStoreLike {
  private readonly meta: SecretMetaLike = { ...DEV_DEMO_SECRET, createdAt: DEMO_CREATED };
  private readonly value: Buffer;
  constructor(
    private readonly inner: SecretStoreLike,
    masterKey: Buffer,
  ) {
    this.value = demoValue(masterKey);
  }
  private async stored(name: string): Promise<boolean> {
    return (await this.inner.list()).some((m) => m.name === name);
  }
  private async builtIn(name: string): Promise<boolean> {
    return name === DEV_DEMO_SECRET.name && !(await this.stored(name));
  }
  async create(name: string, kind: 'sefs-key' | 'bytes', value?: Buffer, by?: AuditedByLike): Promise<SecretMetaLike> {
    if (name === DEV_DEMO_SECRET.name) throw new StoreError('secret_exists', `secret '${name}' is built into --dev`);
    return this.inner.create(name, kind, value, by);
  }
  async rotate(name: string, value?: Buffer, by?: AuditedByLike): Promise<SecretMetaLike> {
    if (await this.builtIn(name)) throw new StoreError('invalid_secret_value', `secret '${name}' is built into --dev and cannot be rotated`);
    return this.inner.rotate(name, value, by);
  }
  async list(): Promise<SecretMetaLike[]> {
    const list = await this.inner.list();
    return list.some((m) => m.name === DEV_DEMO_SECRET.name) ? list : [...list, this.meta].sort((a, b) => (a.name < b.name ? -1 : 1));
  }
  async delete(name: string, by?: AuditedByLike): Promise<boolean> {
    if (await this.builtIn(name)) throw new StoreError('invalid_secret_value', `secret '${name}' is built into --dev and cannot be deleted`);
    return this.inner.delete(name, by);
  }
  async releasable(name: string): Promise<Array<{ meta: SecretMetaLike; value: Buffer }>> {
    const stored = await this.inner.releasable(name);
    if (stored.length || name !== DEV_DEMO_SECRET.name) return stored;
    return [{ meta: this.meta, value: Buffer.from(this.value) }];
  }
}

export const DEV_TOKEN_FILE = 'dev-admin-token';

/**
 * The development admin token: made on the first dev start and kept (mode 0600) in the data directory,
 * so the banner can show it and `warden policy reload --dev` can use it. A revoked or unknown token in
 * the file is replaced.
 */
export async function ensureDevAdminToken(dataDir: string, tokens: AdminTokens): Promise<{ token: string; file: string; created: boolean }> {
  const file = path.join(dataDir, DEV_TOKEN_FILE);
  try {
    const token = fs.readFileSync(file, 'utf8').trim();
    if ((await tokens.verify(token))?.role === 'admin') return { token, file, created: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const { token } = await tokens.create('admin', 'serve --dev');
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, token + '\n', { mode: 0o600, flag: 'wx' });
  return { token, file, created: true };
}
