// The Fastify app, built from injected stores and verifier so tests and `warden serve` run the same code.
// Routes and their schemas come from openapi.yaml; a route there without a handler here is a start-up error.
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { jwksFromKeys } from '../secrets/jwt.ts';
import { WARDEN_SUITE } from '../protocol/sealing.ts';
import { adminHandlers, type Handler } from './admin-routes.ts';
import { authorize } from './auth.ts';
import { Attestor, type AttestRequest } from './attest.ts';
import { AuditSummary } from './audit-summary.ts';
import type { AppDeps, AppOptions } from './deps.ts';
import type { CollateralReadiness } from '../collateral/provider.ts';
import { ApiError, errorBody, toApiError } from './errors.ts';
import { loadOpenApi, type ApiRoute } from './openapi.ts';
import { RateLimiter } from './rate-limit.ts';
import { ServerMetrics } from './server-metrics.ts';
import { clusterMetricsSource } from './cluster-metrics.ts';
import {
  ADMIN_RATE_BURST,
  ADMIN_RATE_PER_SECOND,
  BODY_LIMIT_BYTES,
  NONCE_TTL_SECONDS,
  RATE_BURST,
  RATE_PER_SECOND,
  TLS_CIPHERS,
  TLS_MIN_VERSION,
  TOKEN_TTL_SECONDS,
} from '../protocol/defaults.ts';
import { capConnections, httpLimits, makeClientErrorHandler, serverTimeoutOptions } from './http-limits.ts';
import { loggerOptions } from './log-redaction.ts';

const served = new WeakMap<FastifyInstance, Array<{ method: string; path: string }>>();

/** Every (method, path) the app serves, in openapi path syntax: for the spec-coverage test. */
export function servedRoutes(app: FastifyInstance): Array<{ method: string; path: string }> {
  return [...(served.get(app) ?? [])];
}

const RATE_LIMITED = new Set(['challenge', 'attest']);
const OPTIONAL_BODY = 'x-warden-optional-body';

function makeAjv(coerce: boolean) {
  // OpenAPI 3.1 schemas are JSON Schema 2020-12. Bodies are validated strictly (no coercion, unknown
  // fields refused); path and query strings are coerced to the declared types.
  return new Ajv2020({ strict: false, allErrors: false, coerceTypes: coerce, useDefaults: coerce, removeAdditional: false, validateFormats: false });
}

export interface WardenApp {
  app: FastifyInstance;
  metrics: ServerMetrics;
}

export async function buildApp(deps: AppDeps, opts: AppOptions = {}): Promise<WardenApp> {
  const spec = loadOpenApi(opts.openapiFile);
  const now = opts.now ?? (() => new Date());
  const nonceTtlMs = (opts.nonceTtlSeconds ?? NONCE_TTL_SECONDS) * 1000;
  const metrics = new ServerMetrics(deps.collateral, deps.audit);
  const metricsText = opts.clusterMetrics ? clusterMetricsSource(metrics.registry) : () => metrics.render();
  const beforeNonce = new AuditSummary(deps.audit, {
    type: 'attestation',
    what: 'attest requests refused at the nonce check (unknown, used or expired nonce)',
    now,
    ...(opts.auditSummaryIntervalMs ? { intervalMs: opts.auditSummaryIntervalMs } : {}),
  });
  // Failed admin authentications (401/403): summaries like the nonce refusals, never a row per request;
  // the reasons name the code and the route template ('unauthorized GET /v1/admin/secrets'), never a token.
  const adminAuthFailures = new AuditSummary(deps.audit, {
    type: 'admin_auth_failures',
    what: 'admin API requests refused for their bearer token (401 unauthorized, 403 forbidden)',
    now,
    ...(opts.auditSummaryIntervalMs ? { intervalMs: opts.auditSummaryIntervalMs } : {}),
  });
  const attestor = new Attestor(deps, metrics, { now, tokenTtlSeconds: opts.tokenTtlSeconds ?? TOKEN_TTL_SECONDS, beforeNonce });
  const limiter = opts.rateLimit === false ? null : new RateLimiter(opts.rateLimit ?? { burst: RATE_BURST, perSecond: RATE_PER_SECOND });
  const adminLimiter = opts.adminRateLimit === false ? null : new RateLimiter(opts.adminRateLimit ?? { burst: ADMIN_RATE_BURST, perSecond: ADMIN_RATE_PER_SECOND });
  const bodyLimit = opts.bodyLimit ?? BODY_LIMIT_BYTES;
  const limits = httpLimits(opts.limits);
  const serverTimeouts = serverTimeoutOptions(limits);

  const app = Fastify({
    logger: loggerOptions(opts.logger),
    bodyLimit,
    exposeHeadRoutes: false,
    trustProxy: opts.trustProxy ?? false,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // A socket with no traffic either way for a whole request timeout is dead.
    connectionTimeout: limits.requestTimeoutMs,
    // Our own gate below answers 503 in the error shape while the server drains.
    return503OnClosing: false,
    clientErrorHandler: makeClientErrorHandler((code) => metrics.clientErrors.inc({ code })),
    // A URL that is not valid percent-encoding (or a path parameter over the router's limit): no route
    // can be chosen, so this comes before any other check, authentication included.
    frameworkErrors: (err: Error & { code?: string }, _req: FastifyRequest, reply: FastifyReply) => {
      const msg = err.code === 'FST_ERR_BAD_URL' ? 'the URL is not valid percent-encoding' : 'the URL cannot be routed';
      reply.code(400).type('application/json').send(errorBody('bad_request', msg));
    },
    ...(opts.https
      ? {
          https: {
            key: opts.https.key,
            cert: opts.https.cert,
            minVersion: opts.https.minVersion ?? TLS_MIN_VERSION,
            ciphers: opts.https.ciphers ?? TLS_CIPHERS,
            honorCipherOrder: true,
            ...serverTimeouts,
          },
        }
      : { http: serverTimeouts }),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;
  capConnections(app.server, limits, (reason) => metrics.connectionsRefused.inc({ reason }));

  // Expect: 100-continue with a declared body over the limit: no "100 Continue"; the request goes on
  // without it and is answered 413 at once (after authentication on admin routes), the body unsent.
  app.server.on('checkContinue', (req, res) => {
    const declared = Number(req.headers['content-length']);
    if (!(declared > bodyLimit)) res.writeContinue();
    app.server.emit('request', req, res);
  });

  // While the server drains (SIGTERM, app.close()), requests that still arrive on open connections are
  // told so in the API's error shape, and the connection closes after the answer.
  let draining = false;
  app.addHook('preClose', async () => {
    draining = true;
  });
  // What was counted but not yet summarised is written before the store closes.
  app.addHook('onClose', async () => {
    await beforeNonce.close();
    await adminAuthFailures.close();
  });
  app.addHook('onRequest', async (req, reply) => {
    // Liveness stays true, and readiness says why it is false, in its own shape.
    const route = req.routeOptions.url;
    if (!draining || route === '/healthz' || route === '/readyz') return;
    reply.header('connection', 'close');
    throw new ApiError('not_ready', 'the server is shutting down; retry');
  });

  const routes: Array<{ method: string; path: string }> = [];
  served.set(app, routes);
  app.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    for (const m of methods) routes.push({ method: String(m), path: r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}') });
  });

  const strict = makeAjv(false);
  const coercing = makeAjv(true);
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const { [OPTIONAL_BODY]: optional, ...rest } = schema as Record<string, unknown>;
    const v = (httpPart === 'body' ? strict : coercing).compile(rest);
    if (httpPart === 'querystring') return decimalIntegers(rest, v);
    // An optional body may be absent; when present it must match.
    if (!optional) return v;
    const wrapped = (data: unknown): boolean => {
      if (data === undefined || data === null) return true; // no body at all
      const ok = v(data) as boolean;
      wrapped.errors = v.errors;
      return ok;
    };
    wrapped.errors = null as typeof v.errors;
    return wrapped;
  });
  app.setSchemaErrorFormatter((errors, dataVar) => {
    const e = errors[0];
    return new Error(e ? `${dataVar}${e.instancePath} ${e.message ?? 'is invalid'}` : `${dataVar} is invalid`);
  });

  // JSON only; an empty body (POST /v1/challenge with a JSON content type) is "no body".
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    // The body is read as UTF-8 (RFC 8259 §8.1): a body declared in another charset is refused, not misread.
    const charset = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(String(req.headers['content-type'] ?? ''))?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      done(new ApiError('unsupported_media_type', `charset ${charset} is not supported; send application/json in UTF-8`), undefined);
      return;
    }
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      done(new ApiError('bad_request', 'request body is not valid JSON'), undefined);
      return;
    }
    // Fastify gives null for "no body"; a JSON null is a body, and never a valid one.
    if (parsed === null) done(new ApiError('bad_request', 'request body must be a JSON object, not null'), undefined);
    else done(null, parsed);
  });

  app.setErrorHandler((err, req, reply) => {
    const api = toApiError(err);
    // A bug: its stack goes to the server log only; the client gets the code and no detail.
    if (api.code === 'internal_error') req.log.error({ err: api.cause ?? err }, 'internal error');
    if (api.code === 'collateral_unavailable' && api.cause instanceof Error) req.log.warn({ detail: api.cause.message }, 'collateral unavailable');
    if (api.code === 'rate_limited' && reply.getHeader('retry-after') === undefined) reply.header('retry-after', '1');
    reply.code(api.statusCode).type('application/json').send(errorBody(api.code, api.message, api.checks));
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).type('application/json').send(errorBody('not_found', `no route ${req.method} ${req.url.split('?')[0]}`));
  });

  // Response validation against openapi.yaml (tests and dev): a response that breaks the contract is a bug.
  // A status declared without a JSON body (the metrics text) maps to null.
  const responseValidators = new Map<string, Map<string, ValidateFunction | null>>();
  if (opts.validateResponses) {
    for (const r of spec.routes) {
      const m = new Map<string, ValidateFunction | null>();
      for (const status of r.statuses) m.set(status, r.responses[status] ? strict.compile(r.responses[status]) : null);
      responseValidators.set(r.operationId, m);
    }
    const errorValidator = strict.compile(spec.errorSchema);
    app.addHook('onSend', async (req, reply, payload) => {
      const op = (req.routeOptions.config as { operationId?: string } | undefined)?.operationId;
      if (!op) {
        // No route (404, a URL that cannot be routed): still the one error shape.
        if (reply.statusCode >= 400 && typeof payload === 'string' && !errorValidator(JSON.parse(payload))) {
          req.log.error({ status: reply.statusCode }, 'error response is not an Error body');
          reply.code(500);
          return JSON.stringify(errorBody('internal_error', 'an error response did not match openapi.yaml'));
        }
        return payload;
      }
      const declared = responseValidators.get(op);
      const v = declared?.get(String(reply.statusCode));
      if (v === undefined) {
        // Every status a route can answer is declared for it in openapi.yaml: an undeclared one is a bug.
        req.log.error({ op, status: reply.statusCode }, 'response status not declared in openapi.yaml');
        reply.code(500);
        return JSON.stringify(errorBody('internal_error', `response ${reply.statusCode} of ${op} is not declared in openapi.yaml`));
      }
      if (v === null || typeof payload !== 'string') return payload;
      if (!v(JSON.parse(payload))) {
        req.log.error({ op, status: reply.statusCode, errors: v.errors }, 'response does not match openapi.yaml');
        reply.code(500);
        return JSON.stringify(errorBody('internal_error', `response of ${op} does not match openapi.yaml`));
      }
      return payload;
    });
  }

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requestSeconds.observe({ route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  const handlers: Record<string, Handler> = {
    challenge: async () => {
      const { nonce, expiresAt } = deps.nonces.issue(nonceTtlMs, now());
      return { nonce: nonce.toString('base64'), expiresAt: expiresAt.toISOString() };
    },
    // The body was validated against openapi.yaml's AttestRequest, the schema this type is generated from.
    attest: async (req) => attestor.attest(req.body as AttestRequest, req.ip, req.log),
    serverKeys: async () => {
      const ring = await deps.keys.hpkeKeys();
      const current = ring.find((k) => k.current) ?? ring[0]!;
      return {
        hpke: { suite: WARDEN_SUITE, publicKey: current.publicKey.toString('base64'), serverKeyId: current.id },
        hpkeKeys: ring.map((k) => ({ serverKeyId: k.id, publicKey: k.publicKey.toString('base64'), current: k.current, createdAt: k.createdAt })),
        jwksUri: '/.well-known/jwks.json',
      };
    },
    jwks: async () => jwksFromKeys(await deps.keys.tokenKeys()),
    healthz: async () => ({ status: 'ok' }),
    readyz: async (_req, reply) => {
      const checks: Record<string, boolean> = {};
      try {
        checks['database'] = deps.dbReady ? await deps.dbReady() : true;
      } catch {
        checks['database'] = false;
      }
      let collateral: CollateralReadiness | undefined;
      try {
        collateral = deps.collateral?.readiness ? await deps.collateral.readiness() : undefined;
        checks['collateral'] = collateral ? collateral.state !== 'unavailable' : true;
      } catch {
        checks['collateral'] = false;
      }
      if (draining) checks['serving'] = false;
      const ok = Object.values(checks).every(Boolean);
      reply.code(ok ? 200 : 503);
      // Degraded still serves (200, so a load balancer keeps it): every source is down and the cache carries it until earliestExpiry.
      const status = !ok ? 'not_ready' : collateral?.state === 'degraded' ? 'degraded' : 'ok';
      return { status, checks, policySetHash: deps.policies.current().hash, ...(collateral ? { collateral: readinessBody(collateral, now()) } : {}) };
    },
    metrics: async (req, reply) => {
      let text: string;
      try {
        text = await metricsText();
      } catch (e) {
        // Only with --workers: one worker's share alone would read as the whole server's.
        req.log.warn({ err: e }, 'metrics: could not merge the workers\' metrics');
        throw new ApiError('not_ready', "the workers' metrics could not be merged (a worker is starting or stopping); retry");
      }
      reply.type('text/plain; version=0.0.4; charset=utf-8');
      return text;
    },
    ...adminHandlers(deps),
  };

  const missing = spec.routes.filter((r) => !handlers[r.operationId]).map((r) => `${r.method} ${r.openapiPath} (${r.operationId})`);
  if (missing.length) throw new Error(`openapi.yaml routes without a handler: ${missing.join(', ')}`);

  // Admin routes authenticate before the body is parsed or validated: without a valid token the answer
  // is 401 whatever the request looks like (and an auditor on a write route 403), never a 400 or 415.
  const authenticate = async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      await authorize(req, deps.tokens, req.method === 'GET' ? 'auditor' : 'admin');
    } catch (e) {
      if (e instanceof ApiError) {
        metrics.adminAuthFailures.inc({ code: e.code });
        adminAuthFailures.note(`${e.code} ${req.method} ${req.routeOptions.url ?? ''}`, req.ip);
        // RFC 6750 §3: a 401 names the scheme the client should use.
        if (e.code === 'unauthorized') reply.header('www-authenticate', 'Bearer realm="warden"');
      }
      throw e;
    }
  };
  for (const r of spec.routes) {
    const onRequest: OnRequest[] = [];
    // Admin routes: the rate limit comes first, so guessing tokens is bounded too.
    if (r.secured) {
      if (adminLimiter) onRequest.push(rateLimit(adminLimiter, metrics, r));
      onRequest.push(authenticate);
    } else if (limiter && RATE_LIMITED.has(r.operationId)) onRequest.push(rateLimit(limiter, metrics, r));
    register(app, r, handlers[r.operationId] as Handler, onRequest);
  }
  return { app, metrics };
}

type OnRequest = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

/**
 * Query integers are decimal digits, nothing else: AJV's coercion alone would take `1e3`, `0x10`,
 * ` 7` or `1.0` as numbers. Checked on the raw strings before the coercing validator runs.
 */
function decimalIntegers(schema: Record<string, unknown>, coerce: ValidateFunction): ValidateFunction {
  const props = (schema['properties'] ?? {}) as Record<string, { type?: unknown }>;
  const ints = Object.keys(props).filter((k) => props[k]?.type === 'integer');
  if (!ints.length) return coerce;
  const v = ((data: unknown) => {
    const q = (data ?? {}) as Record<string, unknown>;
    for (const k of ints) {
      const raw = q[k];
      if (raw === undefined || (typeof raw === 'string' && /^[0-9]{1,15}$/.test(raw))) continue;
      v.errors = [{ instancePath: `/${k}`, schemaPath: '#/decimal', keyword: 'pattern', params: {}, message: 'must be decimal digits' }];
      return false;
    }
    const ok = coerce(data) as boolean;
    v.errors = coerce.errors;
    return ok;
  }) as ValidateFunction;
  v.errors = null;
  return v;
}

function rateLimit(limiter: RateLimiter, metrics: ServerMetrics, r: ApiRoute): OnRequest {
  return async (req, reply) => {
    const wait = limiter.take(req.ip);
    if (wait > 0) {
      metrics.rateLimited.inc({ route: r.openapiPath });
      reply.header('retry-after', String(wait));
      throw new ApiError('rate_limited', `too many requests from this address; retry in ${wait} s`);
    }
  };
}

function register(app: FastifyInstance, r: ApiRoute, handler: Handler, onRequest: OnRequest[]) {
  const schema: Record<string, unknown> = {};
  if (r.body) {
    schema['body'] = r.bodyRequired ? r.body : { [OPTIONAL_BODY]: true, ...r.body };
  }
  if (r.params) schema['params'] = r.params;
  if (r.querystring) schema['querystring'] = r.querystring;
  app.route({
    method: r.method,
    url: r.fastifyPath,
    schema,
    config: { operationId: r.operationId },
    ...(onRequest.length ? { onRequest } : {}),
    handler,
  });
}

/** /readyz's collateral part: the state, and how long the cache carries the server without its sources. */
function readinessBody(r: CollateralReadiness, now: Date): Record<string, unknown> {
  const body: Record<string, unknown> = { state: r.state, sourcesReachable: r.sourcesReachable };
  if (r.earliestExpiry) {
    body['earliestExpiry'] = r.earliestExpiry.toISOString();
    body['expiresInSeconds'] = Math.max(0, Math.floor((r.earliestExpiry.getTime() - now.getTime()) / 1000));
  }
  return body;
}
