// `warden serve`: wire the stores, trust root, collateral source and policies into the HTTPS server.
// With --workers N, a primary process prepares the shared state once (database, keys, certificates)
// and runs N identical server processes (node:cluster) on one port and one SQLite file.
import cluster, { type Worker } from 'node:cluster';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { readCaFile } from '../collateral/fetch.ts';
import { INTEL_PCS_URL } from '../collateral/pcs-client.ts';
import { CollateralProvider } from '../collateral/provider.ts';
import { SourceSet } from '../collateral/sources.ts';
import { INTEL_ROOT_ANCHOR, anchorFromRoot } from '../collateral/validate.ts';
import { SERVE_DEFAULTS, SERVE_FLAGS, parseServeArgs, type ServeConfig } from './config.ts';
import { buildApp } from '../server/app.ts';
import { answerMetricsRequests } from '../server/cluster-metrics.ts';
import type { CollateralSource } from '../server/collateral-source.ts';
import type { RootKind } from '../server/deps.ts';
import { createDevCerts, devCertPaths } from '../server/dev-certs.ts';
import { makeQuoteVerifier } from '../server/quote-verifier.ts';
import { SimCollateralSource } from '../server/sim-collateral.ts';
import { openContext, type ContextFlags } from './context.ts';
import { loud, openPolicies, reloadOnHangup } from './serve-policies.ts';
import { checkKeyFileMode } from '../secrets/master-key.ts';
import { DEV_DEMO_POLICY, DEV_DEMO_SECRET, DEV_DEMO_TD_POLICY, DevSecretStore, ensureDevAdminToken } from './dev.ts';
import { UsageError, refuseJson, renderHelp, type Io } from './io.ts';
import { loadOrCreateSimPki } from './sim.ts';

export function help(): string {
  return renderHelp({
    synopsis: 'serve [options]',
    summary: 'Start the key-release server (HTTPS). `npm start` runs `warden serve --dev`.',
    flags: SERVE_FLAGS,
    notes: [
      'Production needs a master key (--master-key-file or --master-key-env), TLS files (--certs DIR or',
      '--tls-cert/--tls-key) and a policy directory; collateral comes from Intel PCS unless --pccs says otherwise.',
      'SIGHUP reloads the policies (a broken set keeps the old one in force); SIGINT/SIGTERM stop the server.',
      'The last start-up line is "warden listening on URL".',
    ].join('\n'),
  });
}

/** TLS key and certificate: explicit files, else certs/, else (dev only) freshly made development ones. */
async function tlsMaterial(c: ServeConfig, io: Io): Promise<{ key: Buffer; cert: Buffer; ca?: string } | null> {
  if (c.http) return null;
  try {
    // OpenSSL refuses a list with no cipher it knows: say so as a usage error, before anything starts.
    tls.createSecureContext({ ciphers: c.tlsCiphers, minVersion: c.tlsMinVersion });
  } catch (e) {
    throw new UsageError(`--tls-ciphers '${c.tlsCiphers}' is not usable: ${(e as Error).message}`);
  }
  const keyMode = { allowInsecure: c.allowInsecureKeyPermissions, warn: io.err };
  if (c.tlsCert && c.tlsKey) {
    checkKeyFileMode(c.tlsKey, 'TLS key file', keyMode);
    return { key: fs.readFileSync(c.tlsKey), cert: fs.readFileSync(c.tlsCert) };
  }
  const p = devCertPaths(c.certsDir);
  if (!fs.existsSync(p.serverCert) || !fs.existsSync(p.serverKey)) {
    if (!c.dev) {
      throw new Error(`no TLS certificate in ${c.certsDir}/: run 'warden certs init' or give --tls-cert FILE --tls-key FILE (or --http for plain HTTP)`);
    }
    loud(io, [`DEVELOPMENT: no TLS certificate in ${c.certsDir}/; creating a development CA and server certificate.`, `Clients pin ${p.caCert}.`]);
    await createDevCerts(c.certsDir, ['localhost', '127.0.0.1', '::1']);
  }
  checkKeyFileMode(p.serverKey, 'TLS key file', keyMode);
  return { key: fs.readFileSync(p.serverKey), cert: fs.readFileSync(p.serverCert), ...(fs.existsSync(p.caCert) ? { ca: p.caCert } : {}) };
}

function contextFlags(c: ServeConfig): ContextFlags {
  return { data: c.dataDir, database: c.database, 'master-key-file': c.masterKeyFile, 'master-key-env': c.masterKeyEnv, dev: c.dev, 'allow-insecure-key-permissions': c.allowInsecureKeyPermissions };
}

export async function run(args: string[], io: Io): Promise<number> {
  refuseJson(args, 'serve', 'it runs until stopped; its start-up lines are text, and /v1/... answers JSON');
  const c = parseServeArgs(args);
  if (c.workers > 1 && cluster.isPrimary) return runPrimary(c, args, io);
  return serveOne(c, io, cluster.isWorker);
}

/** What a worker tells the primary once it listens. */
interface ListeningMessage {
  warden: 'listening';
  port: number;
}

function isListening(m: unknown): m is ListeningMessage {
  return typeof m === 'object' && m !== null && (m as ListeningMessage).warden === 'listening' && typeof (m as ListeningMessage).port === 'number';
}

/** One server process: the whole server, or (worker) one of N that the primary announces. */
async function serveOne(c: ServeConfig, io: Io, worker: boolean): Promise<number> {
  if (!worker) return serveWith(c, io, null);
  // The primary printed the banners, warnings and start-up lines once; a worker speaks once it listens.
  const quiet = { listening: false };
  const say: Io = { out: () => {}, err: (l) => (quiet.listening ? io.err(l) : undefined) };
  return serveWith(c, say, quiet);
}

async function serveWith(c: ServeConfig, io: Io, worker: { listening: boolean } | null): Promise<number> {
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
  const ctx = await openContext(contextFlags(c), { warn: (m) => io.err(m) });
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
        cache: ctx.store.collateral,
        sources: new SourceSet(urls, pccsCaPem.length ? { ca: pccsCaPem } : {}, logger),
        trustedRoot: trustedRoot ? anchorFromRoot(trustedRoot) : INTEL_ROOT_ANCHOR,
        logger,
      });
      provider.startRefresh();
      collateral = provider;
    }

    const { policies, warned } = openPolicies(c, io, ctx);
    await warned();
    const devToken = c.dev && !worker ? await ensureDevAdminToken(ctx.dataDir, ctx.tokens) : undefined;

    const tls = await tlsMaterial(c, io);
    const keys = ctx.keys;
    const { app } = await buildApp(
      {
        nonces: ctx.nonces,
        secrets: c.dev ? new DevSecretStore(ctx.secrets, ctx.masterKey) : ctx.secrets,
        audit: ctx.audit,
        tokens: ctx.tokens,
        keys,
        policies,
        verifyQuote: makeQuoteVerifier({ collateral: collateral!, ...(trustedRoot ? { trustedRoot } : {}) }),
        collateral: collateral!,
        root,
        dbReady: () => ctx.engine.ping(),
      },
      {
        nonceTtlSeconds: c.nonceTtlSeconds,
        tokenTtlSeconds: c.tokenTtlSeconds,
        rateLimit: { burst: c.rateBurst, perSecond: c.ratePerSecond },
        adminRateLimit: { burst: c.adminRateBurst, perSecond: c.adminRatePerSecond },
        limits: {
          requestTimeoutMs: c.requestTimeoutSeconds * 1000,
          headersTimeoutMs: c.headersTimeoutSeconds * 1000,
          keepAliveTimeoutMs: c.keepAliveTimeoutSeconds * 1000,
          maxConnections: c.maxConnections,
          maxConnectionsPerAddress: c.maxConnectionsPerAddress,
        },
        validateResponses: c.dev,
        logger: { level: c.logLevel },
        trustProxy: c.trustProxy,
        clusterMetrics: worker !== null,
        ...(tls ? { https: { key: tls.key, cert: tls.cert, minVersion: c.tlsMinVersion, ciphers: c.tlsCiphers } } : {}),
      },
    );
    await app.listen({ host: c.host, port: c.port });
    const addr = app.server.address();
    const port = addr && typeof addr === 'object' ? addr.port : c.port;
    if (worker) {
      worker.listening = true;
      process.send?.({ warden: 'listening', port } satisfies ListeningMessage);
    }
    announce(io, c, {
      hpke: (await keys.hpke()).publicKey,
      root,
      policiesHash: policies.current().hash,
      tls: tls !== null,
      ...(tls?.ca ? { ca: tls.ca } : {}),
      port,
      ...(devToken ? { devToken } : {}),
    });
    const stopReloading = reloadOnHangup(policies, ctx.audit, io);

    return await new Promise<number>((resolve) => {
      let stopping = false;
      const stop = (sig: string) => {
        // A worker gets the terminal's SIGINT and the primary's SIGTERM: stop once.
        if (stopping) return;
        stopping = true;
        io.err(`warden: ${sig}, shutting down`);
        stopReloading();
        void (async () => {
          await app.close();
          await provider?.stop();
          await ctx.close();
          // The IPC channel to the primary would keep a worker alive.
          if (worker && process.connected) process.disconnect();
          resolve(0);
        })();
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
  } catch (e) {
    await provider?.stop();
    await ctx.close();
    throw e;
  }
}

interface Announcement {
  hpke: Buffer;
  root: RootKind;
  policiesHash: string;
  tls: boolean;
  ca?: string;
  port: number;
  devToken?: { token: string; file: string };
}

/** The start-up lines; the last one is what supervisors (and the tests) wait for. */
function announce(io: Io, c: ServeConfig, a: Announcement): void {
  const host = c.host.includes(':') ? `[${c.host}]` : c.host;
  const url = `${a.tls ? 'https' : 'http'}://${host === '0.0.0.0' ? 'localhost' : host}:${a.port}`;
  io.out(`HPKE public key (pin in enclave images): ${a.hpke.toString('base64')}`);
  io.out(`trust root: ${a.root}${c.rootCa ? ` (${path.resolve(c.rootCa)})` : ''}; policies: ${path.resolve(c.policiesDir)} (${a.policiesHash.slice(0, 16)}...)`);
  if (a.ca) io.out(`TLS CA certificate for clients: ${path.resolve(a.ca)}`);
  if (c.dev && a.devToken) devBanner(io, c, a, url);
  // Last, so a supervisor that waits for this line has everything above it.
  const workers = c.workers > 1 ? ` (${c.workers} worker processes)` : '';
  io.out(`warden listening on ${url}${workers}`);
}

/** Development mode teaches: where it is, how to get in, and the next three commands. */
function devBanner(io: Io, c: ServeConfig, a: Announcement, url: string): void {
  const defaultUrl = `https://127.0.0.1:${SERVE_DEFAULTS.port}`;
  const data = path.relative(process.cwd(), path.resolve(c.dataDir)) || '.';
  const flags = [
    url !== defaultUrl ? ` --server ${url}` : '',
    a.ca && path.resolve(a.ca) !== path.resolve('certs/ca.pem') ? ` --cacert ${a.ca}` : '',
    path.resolve(c.dataDir) !== path.resolve(SERVE_DEFAULTS.dataDir) ? ` --data ${data}` : '',
  ].join('');
  const dataFlag = path.resolve(c.dataDir) !== path.resolve(SERVE_DEFAULTS.dataDir) ? ` --data ${data}` : '';
  io.out(
    [
      '',
      'Warden development server (simulated SGX trust root: never for real enclaves)',
      `  URL:          ${url}${a.ca ? `   (TLS CA: ${a.ca})` : ''}`,
      `  admin token:  ${a.devToken!.token}`,
      `                (kept in ${a.devToken!.file}, mode 0600; send it as "Authorization: Bearer TOKEN")`,
      `  demo:         policy ${DEV_DEMO_POLICY} releases secret ${DEV_DEMO_SECRET.name} to the simulator's default enclave (--dev only),`,
      `                and ${DEV_DEMO_TD_POLICY} to its default TDX trust domain (client attest --dev --tee tdx)`,
      'Next:',
      `  1. attest a simulated enclave:  npx warden client attest --dev --secret ${DEV_DEMO_SECRET.name}${flags}`,
      `  2. read the audit trail:        npx warden audit list${dataFlag} --type attestation`,
      `  3. the policies live in ${path.resolve(c.policiesDir)}/: edit them, then npx warden policy reload --dev${dataFlag}${url !== defaultUrl ? ` --server ${url}` : ''} (or kill -HUP ${process.pid})`,
      '',
    ].join('\n'),
  );
}

const BIN = fileURLToPath(new URL('../../bin/warden.js', import.meta.url));

/**
 * The cluster's primary: creates everything workers would otherwise race to create (migrations, the
 * development master key, server keys, development certificates, the simulated PKI), forks the workers,
 * announces once all listen, and stops them all on SIGINT/SIGTERM or when any of them dies (a supervisor
 * restarts the whole server: no worker runs with state the others lack).
 */
async function runPrimary(c: ServeConfig, args: string[], io: Io): Promise<number> {
  if (c.dev) {
    loud(io, [
      'DEVELOPMENT MODE (--dev): quotes are verified against a SIMULATED Intel root.',
      'Every token says warden.root = "simulated". Never use --dev for real enclaves.',
    ]);
  }
  if (c.http) loud(io, ['PLAIN HTTP (--http): tokens and sealed secrets travel without TLS. Use only behind a TLS proxy or for tests.']);
  const root: RootKind = c.dev ? 'simulated' : c.rootCa ? 'custom' : 'intel';
  const ctx = await openContext(contextFlags(c), { warn: (m) => io.err(m) });
  let hpke: Buffer;
  let policiesHash: string;
  let devToken: { token: string; file: string } | undefined;
  let tls: Awaited<ReturnType<typeof tlsMaterial>>;
  try {
    try {
      for (const f of c.pccsCa) readCaFile(f);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (c.dev) await loadOrCreateSimPki(c.simPkiDir);
    if (c.rootCa) fs.readFileSync(c.rootCa, 'utf8');
    // Both keys exist before any worker asks: every worker then loads the same ones from the database.
    hpke = (await ctx.keys.hpke()).publicKey;
    await ctx.keys.currentTokenKey();
    const { policies, warned } = openPolicies(c, io, ctx);
    await warned();
    policiesHash = policies.current().hash;
    if (c.dev) devToken = await ensureDevAdminToken(ctx.dataDir, ctx.tokens);
    tls = await tlsMaterial(c, io);
  } finally {
    await ctx.close();
  }
  if (c.rootCa) io.err(`warning: trusting the root CA in ${c.rootCa} instead of Intel's; every token says warden.root = "custom"`);

  cluster.setupPrimary({ exec: BIN, args: ['serve', ...args], silent: false });
  const workers: Worker[] = [];
  let stopping = false;
  return await new Promise<number>((resolve) => {
    let listening = 0;
    let port = c.port;
    let code = 0;
    const stopAll = (why: string, exitCode: number) => {
      if (stopping) return;
      stopping = true;
      code = exitCode;
      io.err(`warden: ${why}, shutting down ${workers.length} workers`);
      for (const w of workers) if (!w.isDead()) w.process.kill('SIGTERM');
      // A worker that does not stop in time is killed: the primary never hangs.
      setTimeout(() => {
        for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL');
      }, 10_000).unref();
    };
    const exited = () => {
      if (workers.every((w) => w.isDead())) {
        process.removeListener('SIGINT', onInt);
        process.removeListener('SIGTERM', onTerm);
        process.removeListener('SIGHUP', onHup);
        resolve(code);
      }
    };
    const onInt = () => stopAll('SIGINT', 0);
    const onTerm = () => stopAll('SIGTERM', 0);
    // Every worker holds its own policy set: each reloads (and says whether it could).
    const onHup = () => {
      for (const w of workers) if (!w.isDead()) w.process.kill('SIGHUP');
    };
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    process.on('SIGHUP', onHup);
    for (let i = 0; i < c.workers; i++) {
      const w = cluster.fork();
      workers.push(w);
      answerMetricsRequests(w);
      w.on('message', (m: unknown) => {
        if (!isListening(m) || stopping) return;
        port = m.port;
        if (++listening === c.workers) announce(io, c, { hpke, root, policiesHash, tls: tls !== null, ...(tls?.ca ? { ca: tls.ca } : {}), port, ...(devToken ? { devToken } : {}) });
      });
      w.on('exit', (exitCode, signal) => {
        if (!stopping) stopAll(`worker ${w.id} exited (${signal ?? `code ${exitCode}`})`, 1);
        exited();
      });
    }
  });
}
