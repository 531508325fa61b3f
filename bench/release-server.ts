// The server of the boot bench (bench/boot.ts), run as a child process: the app `warden serve --dev`
// builds, from the same stores, with collateral straight from the simulated PKI and without request
// logging, response validation or rate limiting. (The key-release bench runs `warden serve` itself.)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../src/server/app.ts';
import { DirectoryPolicySource } from '../src/server/policy-source.ts';
import { makeQuoteVerifier } from '../src/server/quote-verifier.ts';
import { SimCollateralSource } from '../src/server/sim-collateral.ts';
import { SimPki } from '../src/sim/pki.ts';
import { openStore } from '../src/store/store.ts';

export interface ReleaseServerConfig {
  dataDir: string;
  policiesDir: string;
  pkiFile: string;
  tlsKeyFile: string;
  tlsCertFile: string;
}

/** The master key travels in the environment, never on the command line. */
export const MASTER_KEY_ENV = 'WARDEN_BENCH_MASTER_KEY';

async function serve(c: ReleaseServerConfig): Promise<number> {
  const masterKey = Buffer.from(process.env[MASTER_KEY_ENV] ?? '', 'hex');
  if (masterKey.length !== 32) throw new Error(`${MASTER_KEY_ENV} must hold 32 bytes of hex`);
  const store = await openStore({ file: path.join(c.dataDir, 'warden.db') });
  const pki = SimPki.fromJSON(JSON.parse(fs.readFileSync(c.pkiFile, 'utf8')));
  const collateral = new SimCollateralSource(pki);
  const { app } = await buildApp(
    {
      nonces: store.nonces(masterKey),
      secrets: store.secrets(masterKey),
      audit: store.audit,
      tokens: store.tokens,
      keys: store.keys(masterKey),
      policies: new DirectoryPolicySource(c.policiesDir),
      verifyQuote: makeQuoteVerifier({ collateral, trustedRoot: pki.rootPem }),
      collateral,
      root: 'simulated',
      dbReady: () => store.engine.ping(),
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
  process.once('SIGTERM', () => void app.close().then(() => store.close()).then(() => process.exit(0)));
  return addr.port;
}

const config = process.argv[1] === fileURLToPath(import.meta.url) ? (JSON.parse(process.argv[2] ?? '{}') as ReleaseServerConfig) : null;
if (config) {
  serve(config).then(
    (port) => process.stdout.write(`LISTENING ${port}\n`),
    (e: unknown) => {
      process.stderr.write(`release-server: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
