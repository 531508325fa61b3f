// `warden serve`: wire the stores, trust root, collateral source and policies into the HTTPS server.
import fs from 'node:fs';
import path from 'node:path';
import { CollateralCache } from '../collateral/cache.ts';
import { readCaFile } from '../collateral/fetch.ts';
import { INTEL_PCS_URL } from '../collateral/pcs-client.ts';
import { CollateralProvider } from '../collateral/provider.ts';
import { SourceSet } from '../collateral/sources.ts';
import { INTEL_ROOT_ANCHOR, anchorFromRoot } from '../collateral/validate.ts';
import { parseServeArgs, type ServeConfig } from '../config.ts';
import { buildApp } from '../server/app.ts';
import type { CollateralSource } from '../server/collateral-source.ts';
import type { RootKind } from '../server/deps.ts';
import { createDevCerts, devCertPaths } from '../server/dev-certs.ts';
import { DirectoryPolicySource } from '../server/policy-source.ts';
import { makeQuoteVerifier } from '../server/quote-verifier.ts';
import { SimCollateralSource } from '../server/sim-collateral.ts';
import { openContext } from './context.ts';
import { UsageError, type Io } from './io.ts';
import { loadOrCreateSimPki } from './sim.ts';

const LOUD = '*'.repeat(78);

function loud(io: Io, lines: string[]): void {
  io.err([LOUD, ...lines.map((l) => `* ${l}`), LOUD].join('\n'));
}

/** TLS key and certificate: explicit files, else certs/, else (dev only) freshly made development ones. */
async function tlsMaterial(c: ServeConfig, io: Io): Promise<{ key: Buffer; cert: Buffer; ca?: string } | null> {
  if (c.http) return null;
  if (c.tlsCert && c.tlsKey) return { key: fs.readFileSync(c.tlsKey), cert: fs.readFileSync(c.tlsCert) };
  const p = devCertPaths(c.certsDir);
  if (!fs.existsSync(p.serverCert) || !fs.existsSync(p.serverKey)) {
    if (!c.dev) {
      throw new Error(`no TLS certificate in ${c.certsDir}/: run 'warden certs init' or give --tls-cert FILE --tls-key FILE (or --http for plain HTTP)`);
    }
    loud(io, [`DEVELOPMENT: no TLS certificate in ${c.certsDir}/; creating a development CA and server certificate.`, `Clients pin ${p.caCert}.`]);
    await createDevCerts(c.certsDir, ['localhost', '127.0.0.1', '::1']);
  }
  return { key: fs.readFileSync(p.serverKey), cert: fs.readFileSync(p.serverCert), ...(fs.existsSync(p.caCert) ? { ca: p.caCert } : {}) };
}

export async function run(args: string[], io: Io): Promise<number> {
  const c = parseServeArgs(args);
  let pccsCaPem: string[] = [];
  try {
    pccsCaPem = c.pccsCa.map(readCaFile);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (c.dev) {
    loud(io, [
      'DEVELOPMENT MODE (--dev): quotes are verified against a SIMULATED Intel root.',
      'Every token says warden.root = "simulated". Never use --dev for real enclaves.',
    ]);
  }
  if (c.http) loud(io, ['PLAIN HTTP (--http): tokens and sealed secrets travel without TLS. Use only behind a TLS proxy or for tests.']);

  // Trust root and collateral source.
  let root: RootKind = 'intel';
  let trustedRoot: string | undefined;
  let collateral: CollateralSource;
  let provider: CollateralProvider | undefined;
  const ctx = openContext({ data: c.dataDir, 'master-key-file': c.masterKeyFile, 'master-key-env': c.masterKeyEnv, dev: c.dev }, { warn: (m) => io.err(m) });
  try {
    if (c.dev) {
      const pki = await loadOrCreateSimPki(c.simPkiDir);
      root = 'simulated';
      trustedRoot = pki.rootPem;
      if (!c.pccs.length) collateral = new SimCollateralSource(pki);
    } else if (c.rootCa) {
      root = 'custom';
      trustedRoot = fs.readFileSync(c.rootCa, 'utf8');
      io.err(`warning: trusting the root CA in ${c.rootCa} instead of Intel's; every token says warden.root = "custom"`);
    }
    if (c.pccs.length || !(c.dev)) {
      const urls = c.pccs.length ? c.pccs : [INTEL_PCS_URL];
      const logger = { warn: (f: Record<string, unknown>, msg: string) => io.err(`collateral: ${msg} ${JSON.stringify(f)}`) };
      provider = new CollateralProvider({
        cache: new CollateralCache(ctx.db),
        sources: new SourceSet(urls, pccsCaPem.length ? { ca: pccsCaPem } : {}, logger),
        trustedRoot: trustedRoot ? anchorFromRoot(trustedRoot) : INTEL_ROOT_ANCHOR,
        logger,
      });
      provider.startRefresh();
      collateral = provider;
    }

    if (!fs.existsSync(c.policiesDir)) {
      if (!c.dev) throw new Error(`policy directory ${c.policiesDir} does not exist (give --policies DIR)`);
      fs.mkdirSync(c.policiesDir, { recursive: true });
    }
    const policies = new DirectoryPolicySource(c.policiesDir, (ws) => {
      for (const w of ws) io.err(`policy warning ${w.code}: ${w.file}${w.line ? `:${w.line}` : ''}: ${w.message}`);
    });
    if (!policies.current().policies.length) loud(io, [`No policies in ${c.policiesDir}: every attestation will be denied.`]);

    const tls = await tlsMaterial(c, io);
    const keys = ctx.keys;
    const { app } = await buildApp(
      {
        nonces: ctx.nonces,
        secrets: ctx.secrets,
        audit: ctx.audit,
        tokens: ctx.tokens,
        keys,
        policies,
        verifyQuote: makeQuoteVerifier({ collateral: collateral!, ...(trustedRoot ? { trustedRoot } : {}) }),
        collateral: collateral!,
        root,
        dbReady: () => ctx.db.prepare('SELECT 1 AS ok').get() !== undefined,
      },
      {
        nonceTtlSeconds: c.nonceTtlSeconds,
        tokenTtlSeconds: c.tokenTtlSeconds,
        rateLimit: { burst: c.rateBurst, perSecond: c.ratePerSecond },
        validateResponses: c.dev,
        logger: { level: c.logLevel },
        trustProxy: c.trustProxy,
        ...(tls ? { https: { key: tls.key, cert: tls.cert } } : {}),
      },
    );
    await app.listen({ host: c.host, port: c.port });
    const addr = app.server.address();
    const port = addr && typeof addr === 'object' ? addr.port : c.port;
    const host = c.host.includes(':') ? `[${c.host}]` : c.host;
    io.out(`HPKE public key (pin in enclave images): ${keys.hpke().publicKey.toString('base64')}`);
    io.out(`trust root: ${root}${c.rootCa ? ` (${path.resolve(c.rootCa)})` : ''}; policies: ${path.resolve(c.policiesDir)} (${policies.current().hash.slice(0, 16)}...)`);
    if (tls?.ca) io.out(`TLS CA certificate for clients: ${path.resolve(tls.ca)}`);
    // Last, so a supervisor that waits for this line has everything above it.
    io.out(`warden listening on ${tls ? 'https' : 'http'}://${host === '0.0.0.0' ? 'localhost' : host}:${port}`);

    return await new Promise<number>((resolve) => {
      const stop = (sig: string) => {
        io.err(`warden: ${sig}, shutting down`);
        void (async () => {
          await app.close();
          await provider?.stop();
          ctx.close();
          resolve(0);
        })();
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
  } catch (e) {
    await provider?.stop();
    ctx.close();
    throw e;
  }
}
