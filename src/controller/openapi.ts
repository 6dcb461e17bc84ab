/**
 * The OpenAPI 3.1 document of the northbound API, made from the very TypeBox schemas that validate
 * requests (OpenAPI 3.1 takes JSON Schema as it is): what it says a PUT accepts is what is accepted.
 */
import { HeartbeatBody, ReportsBody, WatchBody } from './southbound.js';
import type { TSchema } from '@sinclair/typebox';
import type { ResourceKind } from './kind.js';

export { API_PREFIX } from './schema.js';
import { API_PREFIX } from './schema.js';

/** A TypeBox schema as plain JSON Schema (its symbol-keyed bookkeeping dropped). */
const plain = (s: TSchema): unknown => JSON.parse(JSON.stringify(s));

export function openApiDocument(kinds: readonly ResourceKind[], version: string): Record<string, unknown> {
  const schemas: Record<string, unknown> = {
    Error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, syCode: { type: 'string', description: "Switchyard's stable error code (SY_...)" } },
    },
  };
  const paths: Record<string, unknown> = {};
  const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
  const json = (schema: unknown) => ({ 'application/json': { schema } });
  const errors = {
    '400': { description: 'Malformed body, or a reference to something that does not exist', content: json(ref('Error')) },
    '401': { description: 'No token, or not a token of this controller', content: json(ref('Error')) },
    '403': { description: 'A tenant token on a provider (admin-only) collection', content: json(ref('Error')) },
    '404': { description: 'No such resource (or another tenant\'s)', content: json(ref('Error')) },
    '409': { description: 'In use, or an address already taken', content: json(ref('Error')) },
    '412': { description: 'If-Match / If-None-Match failed', content: json(ref('Error')) },
  };
  const idParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9_][A-Za-z0-9_.~-]{0,127}$' } });
  const conditional = [
    { name: 'If-Match', in: 'header', required: false, schema: { type: 'string' }, description: 'Write only if the resource is at this etag (or "*": exists)' },
    { name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string' }, description: '"*": create only, 412 if it exists' },
  ];
  const crud = (name: string, tag: string, params: unknown[]) => ({
    parameters: params,
    get: { tags: [tag], summary: `Get ${name}`, responses: { '200': { description: 'The resource', content: json(ref(name)) }, ...errors } },
    put: {
      tags: [tag],
      summary: `Create or replace ${name} (idempotent full replace)`,
      parameters: conditional,
      requestBody: { required: true, content: json(ref(name)) },
      responses: { '200': { description: 'Replaced', content: json(ref(name)) }, '201': { description: 'Created', content: json(ref(name)) }, ...errors },
    },
    delete: { tags: [tag], summary: `Delete ${name}`, parameters: conditional, responses: { '204': { description: 'Deleted' }, ...errors } },
  });
  const list = (name: string, tag: string, params: unknown[]) => ({
    parameters: params,
    get: {
      tags: [tag],
      summary: `List ${name}`,
      responses: {
        '200': {
          description: 'The collection',
          headers: { 'X-Sy-Revision': { description: 'The store revision the list was read at: GET /watch?fromRevision=(it + 1) misses nothing after it', schema: { type: 'integer' } } },
          content: json({ type: 'object', properties: { value: { type: 'array', items: ref(name) } } }),
        },
        ...errors,
      },
    },
  });
  for (const k of kinds) {
    schemas[k.title] = plain(k.body);
    paths[`${API_PREFIX}/${k.collection}`] = list(k.title, k.collection, []);
    paths[`${API_PREFIX}/${k.collection}/{resourceId}`] = crud(k.title, k.collection, [idParam('resourceId')]);
    for (const c of k.children) {
      const name = `${k.title}.${c.name}`;
      schemas[name] = plain(c.schema);
      paths[`${API_PREFIX}/${k.collection}/{resourceId}/${c.name}`] = list(name, k.collection, [idParam('resourceId')]);
      paths[`${API_PREFIX}/${k.collection}/{resourceId}/${c.name}/{childId}`] = crud(name, k.collection, [idParam('resourceId'), idParam('childId')]);
    }
  }
  paths[`${API_PREFIX}/auditLog`] = {
    get: {
      tags: ['auditLog'],
      summary: 'Who changed what (admins only), oldest first',
      parameters: [{ name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100000 } }],
      responses: { '200': { description: 'The newest entries', content: json({ type: 'object', properties: { value: { type: 'array' } } }) }, ...errors },
    },
  };
  paths[`${API_PREFIX}/watch`] = {
    get: {
      tags: ['watch'],
      summary: 'Changes as server-sent events (put, delete, configurationState) of what the token may see; resumes after Last-Event-ID',
      parameters: [
        { name: 'fromRevision', in: 'query', required: false, schema: { type: 'integer', minimum: 0 }, description: 'Start at this store revision (a list\'s X-Sy-Revision + 1); 0 or none: from now' },
        { name: 'collection', in: 'query', required: false, schema: { type: 'string', enum: kinds.map((k) => k.collection) } },
        { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' }, description: 'The last event id seen: resume after it' },
      ],
      responses: { '200': { description: 'An endless text/event-stream; an error event ends it (Gone: the revision was compacted, list again)', content: { 'text/event-stream': { schema: { type: 'string' } } } }, ...errors },
    },
  };
  const sb = `${API_PREFIX}/southbound/servers/{serverId}`;
  const server = [idParam('serverId')];
  const hostOnly = 'Host tokens of this server (switchyard controller token create --role host --server ID) or admins';
  paths[`${sb}/span`] = { parameters: server, get: { tags: ['southbound'], summary: `The server's span: its NICs, what they reference, remote endpoints. ${hostOnly}`, responses: { '200': { description: 'The span and the store revision it was read after', content: json({ type: 'object' }) }, ...errors } } };
  paths[`${sb}/watch`] = {
    parameters: server,
    post: {
      tags: ['southbound'],
      summary: `What differs from what the host has, then every change of its span, as server-sent events (put, remote, delete). ${hostOnly}`,
      requestBody: { required: false, content: json(plain(WatchBody)) },
      responses: { '200': { description: 'An endless text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, ...errors },
    },
  };
  paths[`${sb}/heartbeat`] = { parameters: server, put: { tags: ['southbound'], summary: `The host's health and provider addresses. ${hostOnly}`, requestBody: { required: true, content: json(plain(HeartbeatBody)) }, responses: { '204': { description: 'Recorded' }, ...errors } } };
  paths[`${sb}/reports`] = { parameters: server, put: { tags: ['southbound'], summary: `What the host realised, per resource of its span (configurationState). ${hostOnly}`, requestBody: { required: true, content: json(plain(ReportsBody)) }, responses: { '204': { description: 'Recorded' }, ...errors } } };
  return {
    openapi: '3.1.0',
    info: { title: 'Switchyard Network Controller northbound API', version, description: 'Resources shaped after [MS-NCNBI]; every request needs a bearer token.' },
    components: { schemas, securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}
