// Loads openapi.yaml, the single source of the API's routes and schemas, into what Fastify and AJV need.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export type JsonSchema = Record<string, unknown>;

export interface ApiRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  /** Path as written in openapi.yaml (`/v1/admin/secrets/{name}`). */
  openapiPath: string;
  /** The same path in Fastify's syntax (`/v1/admin/secrets/:name`). */
  fastifyPath: string;
  operationId: string;
  /** True when the operation declares bearer security (admin routes). */
  secured: boolean;
  body?: JsonSchema;
  bodyRequired: boolean;
  params?: JsonSchema;
  querystring?: JsonSchema;
  /** JSON response schemas by status code. */
  responses: Record<string, JsonSchema>;
  /** Every status the route declares, JSON or not. */
  statuses: string[];
}

export interface ApiSpec {
  document: Record<string, unknown>;
  routes: ApiRoute[];
  /** The Error schema with every $ref resolved: what every error body must match. */
  errorSchema: JsonSchema;
}

export const DEFAULT_OPENAPI_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../openapi.yaml');

const METHODS = ['get', 'post', 'put', 'delete', 'patch'] as const;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Replace every local `$ref` by a copy of its target, so each route schema stands alone. */
function deref(doc: Record<string, unknown>, node: unknown, seen: string[] = []): unknown {
  if (Array.isArray(node)) return node.map((n) => deref(doc, n, seen));
  if (!isObject(node)) return node;
  const ref = node['$ref'];
  if (typeof ref === 'string') {
    if (!ref.startsWith('#/')) throw new Error(`openapi.yaml: only local $ref supported, got ${ref}`);
    if (seen.includes(ref)) throw new Error(`openapi.yaml: recursive $ref ${ref}`);
    let target: unknown = doc;
    for (const part of ref.slice(2).split('/')) {
      target = isObject(target) ? target[part.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
    }
    if (target === undefined) throw new Error(`openapi.yaml: unresolved $ref ${ref}`);
    const { $ref: _drop, ...siblings } = node;
    const resolved = deref(doc, target, [...seen, ref]);
    return Object.keys(siblings).length && isObject(resolved) ? { ...resolved, ...(deref(doc, siblings, seen) as object) } : resolved;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = deref(doc, v, seen);
  return out;
}

/**
 * A request field marked `x-warden-decoded: base64` is checked where its handler decodes it (decodeBase64Strict in
 * wire.ts: decode, re-encode, compare, which implies the pattern and also refuses non-canonical trailing bits), so the
 * body validator does not run its pattern as well: on a 6 KB quote the regular expression cost 14-28 µs, the decoding
 * check 2-6 µs. Response schemas keep their patterns (tests and --dev validate them).
 */
function withoutDecodedPatterns(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutDecodedPatterns);
  if (!isObject(node)) return node;
  const out: Record<string, unknown> = {};
  const decoded = node['x-warden-decoded'] === 'base64';
  for (const [k, v] of Object.entries(node)) if (!(decoded && k === 'pattern')) out[k] = withoutDecodedPatterns(v);
  return out;
}

function jsonSchemaOf(content: unknown): JsonSchema | undefined {
  if (!isObject(content)) return undefined;
  const json = content['application/json'];
  if (isObject(json) && isObject(json['schema'])) return json['schema'];
  return undefined;
}

function paramsSchema(params: unknown[], where: 'path' | 'query'): JsonSchema | undefined {
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  for (const p of params) {
    if (!isObject(p) || p['in'] !== where || typeof p['name'] !== 'string') continue;
    properties[p['name']] = p['schema'] ?? {};
    if (p['required'] === true) required.push(p['name']);
  }
  if (!Object.keys(properties).length) return undefined;
  return { type: 'object', properties, required, additionalProperties: false };
}

export function parseOpenApi(text: string): ApiSpec {
  const document = YAML.parse(text) as unknown;
  if (!isObject(document) || !isObject(document['paths'])) throw new Error('openapi.yaml: no paths');
  const routes: ApiRoute[] = [];
  for (const [p, item] of Object.entries(document['paths'])) {
    if (!isObject(item)) continue;
    for (const m of METHODS) {
      const op0 = item[m];
      if (!isObject(op0)) continue;
      const op = deref(document, op0) as Record<string, unknown>;
      if (typeof op['operationId'] !== 'string') throw new Error(`openapi.yaml: ${m.toUpperCase()} ${p} has no operationId`);
      const params = Array.isArray(op['parameters']) ? op['parameters'] : [];
      const rb = isObject(op['requestBody']) ? op['requestBody'] : undefined;
      const responses: Record<string, JsonSchema> = {};
      const statuses: string[] = [];
      if (isObject(op['responses'])) {
        for (const [status, r] of Object.entries(op['responses'])) {
          statuses.push(status);
          const s = isObject(r) ? jsonSchemaOf(r['content']) : undefined;
          if (s) responses[status] = s;
        }
      }
      const route: ApiRoute = {
        method: m.toUpperCase() as ApiRoute['method'],
        openapiPath: p,
        fastifyPath: p.replace(/\{([^}]+)\}/g, ':$1'),
        operationId: op['operationId'],
        secured: Array.isArray(op['security']) && op['security'].length > 0,
        bodyRequired: rb?.['required'] === true,
        responses,
        statuses,
      };
      const body = rb ? jsonSchemaOf(rb['content']) : undefined;
      if (body) route.body = withoutDecodedPatterns(body) as JsonSchema;
      const ps = paramsSchema(params, 'path');
      if (ps) route.params = ps;
      const qs = paramsSchema(params, 'query');
      if (qs) route.querystring = qs;
      routes.push(route);
    }
  }
  const errorSchema = deref(document, { $ref: '#/components/schemas/Error' });
  if (!isObject(errorSchema)) throw new Error('openapi.yaml: no Error schema');
  return { document, routes, errorSchema };
}

export function loadOpenApi(file: string = DEFAULT_OPENAPI_PATH): ApiSpec {
  return parseOpenApi(fs.readFileSync(file, 'utf8'));
}
