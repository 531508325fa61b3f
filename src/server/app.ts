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
import type { AppDeps, AppOptions } from './deps.ts';
import { ApiError, errorBody, toApiError } from './errors.ts';
import { loadOpenApi, type ApiRoute } from './openapi.ts';
import { RateLimiter } from './rate-limit.ts';
import { ServerMetrics } from './server-metrics.ts';
import { BODY_LIMIT_BYTES, NONCE_TTL_SECONDS, RATE_BURST, RATE_PER_SECOND, TOKEN_TTL_SECONDS } from '../protocol/defaults.ts';

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
  const metrics = new ServerMetrics(deps.collateral);
  const attestor = new Attestor(deps, metrics, { now, tokenTtlSeconds: opts.tokenTtlSeconds ?? TOKEN_TTL_SECONDS });
  const limiter = opts.rateLimit === false ? null : new RateLimiter(opts.rateLimit ?? { burst: RATE_BURST, perSecond: RATE_PER_SECOND });

  const logger = opts.logger === undefined ? false : opts.logger;
  const app = Fastify({
    logger,
    bodyLimit: opts.bodyLimit ?? BODY_LIMIT_BYTES,
    exposeHeadRoutes: false,
    trustProxy: opts.trustProxy ?? false,
    return503OnClosing: true,
    ...(opts.https ? { https: { key: opts.https.key, cert: opts.https.cert } } : {}),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

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
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
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
    if (api.code === 'rate_limited' && reply.getHeader('retry-after') === undefined) reply.header('retry-after', '1');
    reply.code(api.statusCode).type('application/json').send(errorBody(api.code, api.message, api.checks));
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).type('application/json').send(errorBody('not_found', `no route ${req.method} ${req.url.split('?')[0]}`));
  });

  // Response validation against openapi.yaml (tests and dev): a response that breaks the contract is a bug.
  const responseValidators = new Map<string, Map<string, ValidateFunction>>();
  if (opts.validateResponses) {
    for (const r of spec.routes) {
      const m = new Map<string, ValidateFunction>();
      for (const [status, schema] of Object.entries(r.responses)) m.set(status, strict.compile(schema));
      responseValidators.set(r.operationId, m);
    }
    app.addHook('onSend', async (req, reply, payload) => {
      const op = (req.routeOptions.config as { operationId?: string } | undefined)?.operationId;
      const v = op ? responseValidators.get(op)?.get(String(reply.statusCode)) : undefined;
      if (!op) return payload;
      if (!v) {
        if (reply.statusCode >= 400) {
          // Errors not listed for this route still have to be error bodies.
          const errV = strict.compile((spec.document as { components: { schemas: { Error: object } } }).components.schemas.Error);
          if (typeof payload === 'string' && errV(JSON.parse(payload))) return payload;
        }
        if (String(reply.getHeader('content-type') ?? '').startsWith('text/plain')) return payload;
        req.log.error({ op, status: reply.statusCode }, 'response status not declared in openapi.yaml');
        reply.code(500);
        return JSON.stringify(errorBody('internal_error', `response ${reply.statusCode} of ${op} is not declared in openapi.yaml`));
      }
      if (typeof payload !== 'string') return payload;
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
    metrics.requestSeconds.observe(reply.elapsedTime / 1000, { route, status: String(reply.statusCode) });
  });

  const handlers: Record<string, Handler> = {
    challenge: async () => {
      const { nonce, expiresAt } = deps.nonces.issue(nonceTtlMs, now());
      return { nonce: nonce.toString('base64'), expiresAt: expiresAt.toISOString() };
    },
    attest: async (req) => attestor.attest(req.body as AttestRequest, req.ip),
    serverKeys: async () => {
      const ring = deps.keys.hpkeKeys();
      const current = ring.find((k) => k.current) ?? ring[0]!;
      return {
        hpke: { suite: WARDEN_SUITE, publicKey: current.publicKey.toString('base64'), serverKeyId: current.id },
        hpkeKeys: ring.map((k) => ({ serverKeyId: k.id, publicKey: k.publicKey.toString('base64'), current: k.current, createdAt: k.createdAt })),
        jwksUri: '/.well-known/jwks.json',
      };
    },
    jwks: async () => jwksFromKeys(deps.keys.tokenKeys()),
    healthz: async () => ({ status: 'ok' }),
    readyz: async (_req, reply) => {
      const checks: Record<string, boolean> = {};
      try {
        checks['database'] = deps.dbReady ? deps.dbReady() : true;
      } catch {
        checks['database'] = false;
      }
      try {
        checks['collateral'] = deps.collateral?.ready ? await deps.collateral.ready() : true;
      } catch {
        checks['collateral'] = false;
      }
      const ok = Object.values(checks).every(Boolean);
      reply.code(ok ? 200 : 503);
      return { status: ok ? 'ok' : 'not_ready', checks };
    },
    metrics: async (_req, reply) => {
      reply.type('text/plain; version=0.0.4; charset=utf-8');
      return metrics.render();
    },
    ...adminHandlers(deps),
  };

  const missing = spec.routes.filter((r) => !handlers[r.operationId]).map((r) => `${r.method} ${r.openapiPath} (${r.operationId})`);
  if (missing.length) throw new Error(`openapi.yaml routes without a handler: ${missing.join(', ')}`);

  // Admin routes authenticate before the body is parsed or validated: without a valid token the answer
  // is 401 whatever the request looks like (and an auditor on a write route 403), never a 400 or 415.
  const authenticate = async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      authorize(req, deps.tokens, req.method === 'GET' ? 'auditor' : 'admin');
    } catch (e) {
      // RFC 6750 §3: a 401 names the scheme the client should use.
      if (e instanceof ApiError && e.code === 'unauthorized') reply.header('www-authenticate', 'Bearer realm="warden"');
      throw e;
    }
  };
  for (const r of spec.routes) {
    const onRequest = r.secured ? authenticate : limiter && RATE_LIMITED.has(r.operationId) ? rateLimit(limiter, metrics, r) : undefined;
    register(app, r, handlers[r.operationId] as Handler, onRequest);
  }
  return { app, metrics };
}

type OnRequest = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

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

function register(app: FastifyInstance, r: ApiRoute, handler: Handler, onRequest: OnRequest | undefined) {
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
    ...(onRequest ? { onRequest } : {}),
    handler,
  });
}
