// The server of the key-release bench, run as a child process: the app `warden serve --dev` builds,
// from the same stores, but without request logging, response validation or rate limiting (those
// are dev conveniences, not the release path). With WORKERS > 1 it runs a cluster: every worker
// builds its own app on the shared SQLite file and they share one listening port.
import cluster from 'node:cluster';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../src/server/app.ts';
import { DirectoryPolicySource } from '../src/server/policy-source.ts';
import { makeQuoteVerifier } from '../src/server/quote-verifier.ts';
import { SimCollateralSource } from '../src/server/sim-collateral.ts';
import { SimPki } from '../src/sim/pki.ts';
import { AdminTokens } from '../src/store/admin-tokens.ts';
import { AuditLog } from '../src/store/audit.ts';
import { openDatabase } from '../src/store/db.ts';
import { NonceStore } from '../src/store/nonces.ts';
import { SecretStore } from '../src/store/secrets.ts';
import { ServerKeys } from '../src/store/server-keys.ts';

export interface ReleaseServerConfig {
  dataDir: string;
  policiesDir: string;
  pkiFile: string;
  tlsKeyFile: string;
  tlsCertFile: string;
  workers: number;
}

/** The master key travels in the environment, never on the command line. */
export const MASTER_KEY_ENV = 'WARDEN_BENCH_MASTER_KEY';

async function serve(c: ReleaseServerConfig): Promise<number> {
  const masterKey = Buffer.from(process.env[MASTER_KEY_ENV] ?? '', 'hex');
  if (masterKey.length !== 32) throw new Error(`${MASTER_KEY_ENV} must hold 32 bytes of hex`);
  const db = openDatabase(path.join(c.dataDir, 'warden.db'));
  const pki = SimPki.fromJSON(JSON.parse(fs.readFileSync(c.pkiFile, 'utf8')));
  const collateral = new SimCollateralSource(pki);
  const { app } = await buildApp(
    {
      nonces: new NonceStore(db),
      secrets: new SecretStore(db, masterKey),
      audit: new AuditLog(db),
      tokens: new AdminTokens(db),
      keys: new ServerKeys(db, masterKey),
      policies: new DirectoryPolicySource(c.policiesDir),
      verifyQuote: makeQuoteVerifier({ collateral, trustedRoot: pki.rootPem }),
      collateral,
      root: 'simulated',
      dbReady: () => db.prepare('SELECT 1 AS ok').get() !== undefined,
    },
    {
      rateLimit: false,
      logger: false,
      https: { key: fs.readFileSync(c.tlsKeyFile), cert: fs.readFileSync(c.tlsCertFile) },
    },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  process.once('SIGTERM', () => void app.close().then(() => (db.close(), process.exit(0))));
  return addr.port;
}

const config = process.argv[1] === fileURLToPath(import.meta.url) ? (JSON.parse(process.argv[2] ?? '{}') as ReleaseServerConfig) : null;
if (!config) {
  // imported for its types and constants
} else if (config.workers > 1 && cluster.isPrimary) {
  let ready = 0;
  for (let i = 0; i < config.workers; i++) {
    const w = cluster.fork();
    w.on('message', (m: { port?: number }) => {
      if (typeof m.port === 'number' && ++ready === config.workers) process.stdout.write(`LISTENING ${m.port}\n`);
    });
  }
  cluster.on('exit', (_w, code) => {
    if (code !== 0) process.stderr.write(`release-server: a worker exited with ${code}\n`);
  });
  process.once('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 2000).unref();
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    });
  });
} else {
  serve(config).then(
    (port) => (cluster.isWorker ? process.send?.({ port }) : process.stdout.write(`LISTENING ${port}\n`)),
    (e: unknown) => {
      process.stderr.write(`release-server: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
