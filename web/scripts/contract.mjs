#!/usr/bin/env node
// Generates src/app/contract/eventide-contract.ts, the TypeScript side of Eventide's contracts, from
// api/openapi.yaml (REST) and api/asyncapi.yaml (Socket.IO), or with --check fails when the committed file
// differs from what they give (ADR 0021). `npm run build` runs the check before `ng build`, so a contract
// change that was not regenerated stops the dashboard's build, and one that was regenerated breaks the
// dashboard's compilation wherever the dashboard no longer fits it.
//
//   node scripts/contract.mjs            write the file
//   node scripts/contract.mjs --check    exit 1 when the file is out of date (or a contract is invalid)
//   --api DIR --out FILE                 other paths: DIR holds openapi.yaml and asyncapi.yaml (tests
//                                        feed altered contracts)
//
// The schemas of both documents are JSON Schema, so json-schema-to-typescript turns them into named types,
// one per schema of components.schemas. No generator writes socket.io-client's event maps, so this script
// writes ServerToClientEvents and ClientToServerEvents from the AsyncAPI operations: `send` operations are
// events the server emits, `receive` operations events a client emits, and a `reply` is the ack.

import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { Parser, fromFile } from '@asyncapi/parser';
import { compile } from 'json-schema-to-typescript';
import YAML from 'yaml';

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const { values: opts } = parseArgs({
  options: {
    check: { type: 'boolean', default: false },
    api: { type: 'string', default: path.join(web, '../api') },
    out: { type: 'string', default: path.join(web, 'src/app/contract/eventide-contract.ts') },
  },
});

/** A problem with the contracts themselves; reported without a stack. */
class ContractError extends Error {}

/** Returns the whole TypeScript file for the two documents. */
async function generate(openapiFile, asyncapiFile) {
  await validateAsyncAPI(asyncapiFile);
  const openapi = YAML.parse(await readFile(openapiFile, 'utf8'));
  const asyncapi = YAML.parse(await readFile(asyncapiFile, 'utf8'));
  const openapiBase = path.basename(openapiFile);

  // One JSON Schema whose $defs are the schemas of both documents, each
  // $ref pointing into $defs: one declaration per named schema.
  const defs = {};
  const refs = [];
  const seen = (name, where) => refs.push({ name, where });
  const add = (schemas, refToName, where) => {
    for (const [name, schema] of Object.entries(schemas ?? {})) {
      if (name in defs) {
        throw new ContractError(`schema ${name} is in both documents; names must be unique (${where})`);
      }
      defs[name] = rewriteRefs(schema, refToName, `${where}#/components/schemas/${name}`, seen);
    }
  };
  add(openapi.components?.schemas, (ref) => localSchema(ref, '#/components/schemas/'), openapiBase);
  add(
    asyncapi.components?.schemas,
    (ref) => localSchema(ref, '#/components/schemas/') ?? localSchema(ref, `${openapiBase}#/components/schemas/`) ??
      localSchema(ref, `./${openapiBase}#/components/schemas/`),
    path.basename(asyncapiFile),
  );
  for (const { name, where } of refs) {
    if (!(name in defs)) throw new ContractError(`${where}: refers to ${name}, which is not a schema of either document`);
  }

  const types = await compile({ $defs: defs }, 'EventideContractRoot', {
    bannerComment: '',
    additionalProperties: false,
    unreachableDefinitions: true,
    style: { printWidth: 100, singleQuote: true },
  });

  const events = eventMaps(asyncapi, openapiBase, defs);
  return [banner(), tidy(types), events].join('\n');
}

/**
 * Parses the AsyncAPI document with the reference parser, which checks it
 * against the AsyncAPI schema and rules and resolves its $refs (into
 * openapi.yaml too). An error in it stops the generation.
 */
async function validateAsyncAPI(file) {
  const { document, diagnostics } = await fromFile(new Parser(), file).parse();
  const errors = diagnostics.filter((d) => d.severity === 0);
  if (!document || errors.length > 0) {
    const lines = errors.map((d) => `  ${d.path.join('.') || '(document)'}: ${d.message}`);
    throw new ContractError(`${path.basename(file)} is not a valid AsyncAPI document:\n${lines.join('\n')}`);
  }
}

/** The schema name of ref when it starts with prefix. */
function localSchema(ref, prefix) {
  return ref.startsWith(prefix) && !ref.slice(prefix.length).includes('/') ? ref.slice(prefix.length) : undefined;
}

/** Keywords whose value is a schema, an array of schemas, or a map of names to schemas. */
const SCHEMA = new Set(['items', 'additionalProperties', 'not', 'if', 'then', 'else', 'contains', 'propertyNames',
  'unevaluatedProperties', 'unevaluatedItems', 'additionalItems']);
const SCHEMA_LIST = new Set(['oneOf', 'anyOf', 'allOf', 'prefixItems']);
const SCHEMA_MAP = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);
/** Keywords that only annotate: a schema with no others accepts any value. */
const NOTES = new Set(['description', 'title', 'examples', 'default', 'deprecated', 'readOnly', 'writeOnly', '$comment']);

/**
 * Copies schema with every $ref pointed at #/$defs/<name>, and tells
 * seen(name) of each. A $ref's siblings (a description, a default) are
 * dropped: json-schema-to-typescript would declare a copy of the referenced
 * type for each such use, and the type is the same. Titles are dropped too:
 * json-schema-to-typescript would name types after them, and the names are
 * those of components.schemas, which a title must not change.
 */
function rewriteRefs(schema, refToName, where, seen) {
  if (Array.isArray(schema) && where.endsWith('/items')) {
    return schema.map((s, i) => rewriteRefs(s, refToName, `${where}/${i}`, seen)); // draft-07 tuple items
  }
  if (!schema || typeof schema !== 'object') return schema; // true / false
  if (typeof schema.$ref === 'string') {
    const name = refToName(schema.$ref);
    if (!name) throw new ContractError(`${where}: unsupported $ref ${schema.$ref}`);
    seen(name, where);
    return { $ref: `#/$defs/${name}` };
  }
  const { title: _title, ...rest } = schema;
  if (Object.keys(rest).every((k) => NOTES.has(k))) {
    // Any JSON value: json-schema-to-typescript would say an object.
    return { ...rest, tsType: 'unknown' };
  }
  const out = {};
  for (const [k, v] of Object.entries(rest)) {
    if (SCHEMA.has(k)) {
      out[k] = rewriteRefs(v, refToName, `${where}/${k}`, seen);
    } else if (SCHEMA_LIST.has(k)) {
      out[k] = v.map((s, i) => rewriteRefs(s, refToName, `${where}/${k}/${i}`, seen));
    } else if (SCHEMA_MAP.has(k)) {
      out[k] = Object.fromEntries(
        Object.entries(v).map(([n, s]) => [n, rewriteRefs(s, refToName, `${where}/${k}/${n}`, seen)]),
      );
    } else {
      out[k] = v; // data (examples, default, const, enum) and annotations
    }
  }
  return out;
}

/** Resolves a local JSON pointer ($ref) of the document. */
function pointer(doc, ref, where) {
  if (!ref.startsWith('#/')) throw new ContractError(`${where}: only local $refs are supported here, not ${ref}`);
  let node = doc;
  for (const part of ref.slice(2).split('/')) {
    node = node?.[part.replaceAll('~1', '/').replaceAll('~0', '~')];
  }
  if (node === undefined) throw new ContractError(`${where}: ${ref} points at nothing`);
  return node;
}

/** Follows $refs until an object that is not one. */
function deref(doc, node, where) {
  for (let i = 0; node && typeof node.$ref === 'string'; i++) {
    if (i > 20) throw new ContractError(`${where}: $ref loop`);
    node = pointer(doc, node.$ref, where);
  }
  return node;
}

/** The TypeScript type name of a message's payload: it must be a $ref to a named schema. */
function payloadType(doc, message, openapiBase, defs, where) {
  const ref = message.payload?.$ref;
  const name =
    typeof ref === 'string'
      ? (localSchema(ref, '#/components/schemas/') ??
        localSchema(ref, `${openapiBase}#/components/schemas/`) ??
        localSchema(ref, `./${openapiBase}#/components/schemas/`))
      : undefined;
  if (!name || !(name in defs)) {
    throw new ContractError(`${where}: the payload must be a $ref to a schema of components.schemas`);
  }
  return name;
}

/** ServerToClientEvents and ClientToServerEvents from the AsyncAPI operations. */
function eventMaps(doc, openapiBase, defs) {
  const serverToClient = [];
  const clientToServer = [];
  const names = new Map();
  for (const [id, op] of Object.entries(doc.operations ?? {})) {
    const where = `operations.${id}`;
    const messages = (op.messages ?? []).map((m) => deref(doc, m, where));
    if (messages.length !== 1) {
      throw new ContractError(`${where}: one message per operation (one Socket.IO event name per operation)`);
    }
    const message = messages[0];
    const event = message.name;
    if (typeof event !== 'string' || !/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(event)) {
      throw new ContractError(`${where}: the message needs a name, the Socket.IO event name, as an identifier`);
    }
    const key = `${op.action} ${event}`;
    if (names.has(key)) throw new ContractError(`${where}: ${op.action} ${event} is also ${names.get(key)}`);
    names.set(key, where);
    const payload = payloadType(doc, message, openapiBase, defs, where);
    let ack = '';
    if (op.reply) {
      const replies = (deref(doc, op.reply, where).messages ?? []).map((m) => deref(doc, m, `${where}.reply`));
      if (replies.length !== 1) throw new ContractError(`${where}.reply: one message per reply`);
      ack = `, ack: (reply: ${payloadType(doc, replies[0], openapiBase, defs, `${where}.reply`)}) => void`;
    }
    const doc_ = docComment([op.title, op.summary, op.reply ? 'The server acks when the client passes a callback.' : '']);
    const line = `${doc_}  ${event}: (payload: ${payload}${ack}) => void;`;
    if (op.action === 'send') serverToClient.push(line);
    else if (op.action === 'receive') clientToServer.push(line);
    else throw new ContractError(`${where}: action must be send or receive`);
  }
  return `/**
 * The events the server emits, for socket.io-client's \`Socket<ServerToClientEvents,
 * ClientToServerEvents>\`: listen with \`socket.on(name, listener)\`.
 */
export interface ServerToClientEvents {
${serverToClient.join('\n')}
}

/**
 * The events a client emits: \`socket.emit(name, payload, ack)\`, or
 * \`await socket.timeout(ms).emitWithAck(name, payload)\` for the ack.
 */
export interface ClientToServerEvents {
${clientToServer.join('\n')}
}
`;
}

/** A JSDoc comment, indented for an interface member, from the non-empty parts. */
function docComment(parts) {
  const text = parts
    .filter(Boolean)
    .map((p) => p.trim().replace(/\s+/g, ' '))
    .map((p) => (/[.!?]$/.test(p) ? p : `${p}.`))
    .join(' ');
  if (!text) return '';
  const lines = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > 100 - 5) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  lines.push(line);
  return `  /**\n${lines.map((l) => `   * ${l}`).join('\n')}\n   */\n`;
}

/**
 * Drops what json-schema-to-typescript says about the synthetic root: its
 * empty interface, and the "referenced by ... via the definition" notes.
 */
function tidy(types) {
  let out = types
    .replace(/export interface EventideContractRoot \{\n {2}\[k: string\]: unknown;\n\}\n/, '')
    .replace(/ \*\n \* This interface was referenced by `EventideContractRoot`'s JSON-Schema\n \* via the `definition` "[^"]+"\.\n/g, '')
    .replace(/\/\*\*\n \* This interface was referenced by `EventideContractRoot`'s JSON-Schema\n \* via the `definition` "[^"]+"\.\n \*\/\n/g, '');
  if (out.includes('EventideContractRoot')) {
    throw new Error('json-schema-to-typescript changed its output: update tidy() in scripts/contract.mjs');
  }
  return out.replace(/\n{3,}/g, '\n\n').trimStart();
}

function banner() {
  return `// Generated by web/scripts/contract.mjs from api/openapi.yaml and api/asyncapi.yaml: do not edit.
// Regenerate with \`npm run contract\` in web/; \`npm run build\` fails while this file is out of date.
//
// The REST schemas (Slot, SlotList, Change, EventPage, Problem, ...) and the Socket.IO events, for
// socket.io-client's typed socket:
//
//   const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(url, { auth: { token } });
//
// The file imports nothing, so another app can copy it as it is.
`;
}

function firstDifference(a, b) {
  const x = a.split('\n');
  const y = b.split('\n');
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] !== y[i]) return { line: i + 1, have: x[i] ?? '(end of file)', want: y[i] ?? '(end of file)' };
  }
  return { line: 0, have: '', want: '' };
}

/** Writes or checks the file, as the command line says. */
async function main() {
  try {
    const source = await generate(path.join(opts.api, 'openapi.yaml'), path.join(opts.api, 'asyncapi.yaml'));
    const rel = path.relative(process.cwd(), opts.out) || opts.out;
    if (opts.check) {
      let current = '';
      try {
        current = await readFile(opts.out, 'utf8');
      } catch {
        // missing: reported as out of date below
      }
      if (current !== source) {
        const at = firstDifference(current, source);
        console.error(
          `${rel} is out of date with api/openapi.yaml and api/asyncapi.yaml ` +
            `(first difference at line ${at.line}:\n  have: ${at.have}\n  want: ${at.want})\n` +
            `Run \`npm run contract\` in web/ and commit the result.`,
        );
        process.exit(1);
      }
      console.log(`${rel} matches the contracts`);
    } else {
      await mkdir(path.dirname(opts.out), { recursive: true });
      await writeFile(opts.out, source);
      console.log(`wrote ${rel}`);
    }
  } catch (err) {
    if (err instanceof ContractError) {
      console.error(`contract: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
}

await main();
