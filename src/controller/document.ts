/**
 * A resource's stored document made from a validated PUT body (the envelope filled in: resourceRef,
 * instanceId kept across replaces, tenant stamped, read-only fields dropped, children given their
 * refs), and the document a GET returns (secrets left out, etags, back references and the hosts'
 * configurationState added). Pure: the engine does the store side.
 */
import type { Role } from './auth.js';
import { randomUUID } from 'node:crypto';
import { SyError } from '../errors.js';
import type { ChildDoc, Props, ResourceDoc, ResourceKind } from './kind.js';
import type { ProvisioningState } from './schema.js';

/**
 * The provisioningState a write leaves: the controller has stored it and nothing more is pending.
 * The host agents of the next issue set Updating here for what hosts realise, and Succeeded/Failed
 * from their reports (see the status keys in keys.ts).
 */
export const PROVISIONING_ON_WRITE: ProvisioningState = 'Succeeded';

/** Fields the controller writes itself; a body may carry them (a GET written back) and they are ignored. */
const READ_ONLY_ENVELOPE = ['resourceRef', 'instanceId', 'etag'] as const;
const READ_ONLY_STATE = ['provisioningState', 'configurationState'] as const;

export interface Writer {
  tenant: string;
  role: Role;
}

export interface PutBody {
  resourceId?: string;
  tags?: Record<string, string>;
  resourceMetadata?: Props;
  properties: Props;
}

export const etagOf = (revision: number): string => `W/"${revision}"`;

/** The stored document for `body` written by `writer` over `prev` (undefined: a create). */
export function buildDoc(kind: ResourceKind, id: string, body: PutBody, prev: ResourceDoc | undefined, writer: Writer): ResourceDoc {
  if (body.resourceId !== undefined && body.resourceId !== id) {
    throw new SyError('SY_BAD_REQUEST', `/resourceId: "${body.resourceId}" differs from the URL's "${id}"`);
  }
  const asked = body.resourceMetadata?.tenantId as string | undefined;
  let tenantId: string;
  if (prev) {
    tenantId = prev.resourceMetadata.tenantId;
    if (asked !== undefined && asked !== tenantId) throw new SyError('SY_BAD_REQUEST', `/resourceMetadata/tenantId: a resource's tenant is set when it is made and cannot change`);
  } else if (writer.role === 'tenant') {
    if (asked !== undefined && asked !== writer.tenant) throw new SyError('SY_BAD_REQUEST', `/resourceMetadata/tenantId: a tenant token makes resources of its own tenant only`);
    tenantId = writer.tenant;
  } else tenantId = asked ?? writer.tenant;

  const resourceRef = `/${kind.collection}/${id}`;
  const properties = withoutKeys(body.properties, READ_ONLY_STATE);
  for (const ck of kind.children) {
    const given = (properties[ck.name] ?? []) as ChildDoc[];
    const before = new Map(((prev?.properties[ck.name] ?? []) as ChildDoc[]).map((c) => [c.resourceId, c]));
    const ids = new Set<string>();
    properties[ck.name] = given.map((c, i) => {
      if (ids.has(c.resourceId)) throw new SyError('SY_BAD_REQUEST', `/properties/${ck.name}/${i}/resourceId: "${c.resourceId}" appears twice`);
      ids.add(c.resourceId);
      const props = withoutKeys(c.properties, [...READ_ONLY_STATE, ...(ck.backRefs ? [ck.backRefs.property] : [])]);
      props.provisioningState = PROVISIONING_ON_WRITE;
      return { resourceId: c.resourceId, resourceRef: `${resourceRef}/${ck.name}/${c.resourceId}`, instanceId: before.get(c.resourceId)?.instanceId ?? randomUUID(), properties: props };
    });
  }
  for (const s of kind.secrets ?? []) if (properties[s] === undefined && prev?.properties[s] !== undefined) properties[s] = prev.properties[s];
  properties.provisioningState = PROVISIONING_ON_WRITE;
  return {
    resourceId: id,
    resourceRef,
    instanceId: prev?.instanceId ?? randomUUID(),
    ...(body.tags ? { tags: body.tags } : {}),
    resourceMetadata: { ...withoutKeys(body.resourceMetadata ?? {}, READ_ONLY_ENVELOPE), tenantId },
    properties,
  };
}

/** Read state a GET adds: back references of children and what hosts reported, by resourceRef. */
export interface ReadState {
  backRefs(ref: string): string[];
  configurationState(ref: string): unknown;
}

/** The document a GET returns. Children carry their parent's etag: they are stored inside it. */
export function viewOf(kind: ResourceKind, doc: ResourceDoc, revision: number, state: ReadState): Props {
  const etag = etagOf(revision);
  const properties = withoutKeys(doc.properties, kind.secrets ?? []);
  for (const ck of kind.children) {
    const children = (properties[ck.name] ?? []) as ChildDoc[];
    properties[ck.name] = children.map((c) => childView(ck.backRefs?.property, c, etag, state));
  }
  const cs = state.configurationState(doc.resourceRef);
  if (cs !== undefined) properties.configurationState = cs;
  return { resourceId: doc.resourceId, resourceRef: doc.resourceRef, instanceId: doc.instanceId, etag, ...(doc.tags ? { tags: doc.tags } : {}), resourceMetadata: doc.resourceMetadata, properties };
}

function childView(backRefProperty: string | undefined, c: ChildDoc, etag: string, state: ReadState): Props {
  const properties: Props = { ...c.properties };
  if (backRefProperty) properties[backRefProperty] = state.backRefs(c.resourceRef).map((resourceRef) => ({ resourceRef }));
  const cs = state.configurationState(c.resourceRef);
  if (cs !== undefined) properties.configurationState = cs;
  return { resourceId: c.resourceId, resourceRef: c.resourceRef, instanceId: c.instanceId, etag, properties };
}

/**
 * If-Match / If-None-Match against what exists (`revision` undefined: nothing). Etags compare weakly:
 * `W/"7"` and `"7"` name the same version. A failed condition is a 412 and nothing is written.
 */
export function checkPreconditions(headers: { ifMatch?: string; ifNoneMatch?: string }, revision: number | undefined, what: string): void {
  const { ifMatch, ifNoneMatch } = headers;
  if (ifMatch !== undefined) {
    const tags = ifMatch.split(',').map((t) => t.trim());
    const ok = revision !== undefined && (tags.includes('*') || tags.some((t) => t.replace(/^W\//, '') === `"${revision}"`));
    if (!ok) throw new SyError('SY_PRECONDITION_FAILED', revision === undefined ? `If-Match: ${what} does not exist` : `If-Match: ${what} is at etag ${etagOf(revision)}, not ${ifMatch}`);
  }
  if (ifNoneMatch !== undefined && revision !== undefined) {
    const tags = ifNoneMatch.split(',').map((t) => t.trim());
    if (tags.includes('*') || tags.some((t) => t.replace(/^W\//, '') === `"${revision}"`)) {
      throw new SyError('SY_PRECONDITION_FAILED', `If-None-Match: ${what} exists (etag ${etagOf(revision)})`);
    }
  }
}

function withoutKeys(o: Props, keys: readonly string[]): Props {
  const out: Props = {};
  for (const [k, v] of Object.entries(o)) if (!keys.includes(k)) out[k] = v;
  return out;
}
