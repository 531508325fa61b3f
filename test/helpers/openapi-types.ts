// Generates src/protocol/api.ts (the request and response types) from openapi.yaml's component schemas,
// so the types the server and clients use are the ones the server validates against. test/protocol.test.ts
// fails when the file is not what openapi.yaml generates. After changing openapi.yaml, run:
//   node --import tsx test/helpers/openapi-types.ts --write
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

type Schema = Record<string, unknown>;

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const API_TYPES_FILE = join(ROOT, 'src/protocol/api.ts');

function literal(v: unknown): string {
  return JSON.stringify(v).replace(/"/g, "'");
}

function comment(text: unknown, indent: string): string {
  if (typeof text !== 'string' || !text.trim()) return '';
  return `${indent}/** ${text.trim().replace(/\*\//g, '* /').replace(/\s*\n\s*/g, ' ')} */\n`;
}

/** Schema names that would shadow a global in TypeScript get another type name. */
const RENAMED: Record<string, string> = { Error: 'ErrorResponse' };
const typeName = (schema: string) => RENAMED[schema] ?? schema;

function typeOf(s: Schema, indent: string): string {
  if (typeof s.$ref === 'string') return typeName(s.$ref.replace('#/components/schemas/', ''));
  if (Array.isArray(s.allOf)) {
    // `allOf: [$ref, {constraints}]` narrows a value without changing its type.
    const parts = (s.allOf as Schema[]).map((p) => typeOf(p, indent)).filter((t) => t !== 'unknown');
    return parts.length ? parts.join(' & ') : 'unknown';
  }
  if ('const' in s) return literal(s.const);
  if (Array.isArray(s.enum)) return (s.enum as unknown[]).map(literal).join(' | ');
  const types = Array.isArray(s.type) ? (s.type as string[]) : typeof s.type === 'string' ? [s.type] : [];
  if (!types.length) return s.properties ? objectType(s, indent) : 'unknown';
  return types
    .map((t) => {
      switch (t) {
        case 'string':
          return 'string';
        case 'integer':
        case 'number':
          return 'number';
        case 'boolean':
          return 'boolean';
        case 'null':
          return 'null';
        case 'array':
          return `Array<${s.items ? typeOf(s.items as Schema, indent) : 'unknown'}>`;
        case 'object':
          return objectType(s, indent);
        default:
          throw new Error(`openapi-types: unsupported type ${t}`);
      }
    })
    .join(' | ');
}

function objectType(s: Schema, indent: string): string {
  const props = (s.properties ?? {}) as Record<string, Schema>;
  const required = new Set((s.required ?? []) as string[]);
  const names = Object.keys(props);
  if (!names.length) {
    if (s.maxProperties === 0 || s.additionalProperties === false) return 'Record<string, never>';
    return typeof s.additionalProperties === 'object' ? `Record<string, ${typeOf(s.additionalProperties as Schema, indent)}>` : 'Record<string, unknown>';
  }
  const inner = `${indent}  `;
  const lines = names.map((n) => `${comment(props[n]!.description, inner)}${inner}${n}${required.has(n) ? '' : '?'}: ${typeOf(props[n]!, inner)};`);
  return `{\n${lines.join('\n')}\n${indent}}`;
}

export function generateApiTypes(openapiText: string): string {
  const doc = parse(openapiText) as { components: { schemas: Record<string, Schema> } };
  const out = [
    '// GENERATED from openapi.yaml by test/helpers/openapi-types.ts: do not edit. The wire types of the HTTP',
    '// API, exactly the component schemas the server validates requests and responses against (schema Error',
    '// is ErrorResponse here).',
    '// Regenerate after changing openapi.yaml: node --import tsx test/helpers/openapi-types.ts --write',
    '',
  ];
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    const t = typeOf(schema, '');
    const n = typeName(name);
    out.push(`${comment(schema.description, '')}export ${t.startsWith('{') ? `interface ${n} ${t}` : `type ${n} = ${t};`}`);
    out.push('');
  }
  return out.join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = generateApiTypes(readFileSync(join(ROOT, 'openapi.yaml'), 'utf8'));
  if (process.argv.includes('--write')) writeFileSync(API_TYPES_FILE, text);
  else process.stdout.write(text);
}
