/**
 * The pieces every northbound resource schema is built from ([MS-NCNBI]'s envelope): ids, references,
 * the read-only fields a GET returns (accepted on a PUT and ignored, so a document read can be written
 * back as is), and the bounds on every string and array. The TypeBox schemas give both the request
 * validation and the OpenAPI document; nothing is declared twice.
 */
import { Type, type TProperties, type TSchema } from '@sinclair/typebox';

/** A client-chosen resourceId: safe in a URL path segment and in a store key (no "/" and no "@"). */
/** where the controller's APIs live */
export const API_PREFIX = '/networking/v1';

export const RESOURCE_ID = '^[A-Za-z0-9_][A-Za-z0-9_.~-]{0,127}$';

export const ResourceId = Type.String({ pattern: RESOURCE_ID, description: 'Client-chosen id, unique in its collection (or parent)' });

/** Bounded strings: no field of a network document needs more than this. */
export const Text = (maxLength = 256) => Type.String({ maxLength });

/** An IPv4 address or prefix as text; its meaning is checked by the resource's own validation. */
export const Address = Type.String({ maxLength: 64 });

export const ProvisioningState = Type.Union(
  ['Updating', 'Deleting', 'Succeeded', 'Failed'].map((s) => Type.Literal(s)),
  { description: 'Succeeded once the controller has stored the write; Updating/Deleting while hosts apply it' },
);
export type ProvisioningState = 'Updating' | 'Deleting' | 'Succeeded' | 'Failed';

/** Reported by the hosts (the next issue); read-only here. */
export const ConfigurationState = Type.Object({
  status: Type.Optional(Text(32)),
  detailedInfo: Type.Optional(
    Type.Array(Type.Object({ source: Type.Optional(Text()), code: Type.Optional(Text()), message: Type.Optional(Text(4096)) }), { maxItems: 64 }),
  ),
  lastUpdatedTime: Type.Optional(Text(64)),
});

/** `{"resourceRef": "/virtualNetworks/v1/subnets/s1"}` restricted to what the field may point at. */
export function Ref(pattern: string, description: string) {
  return Type.Object({ resourceRef: Type.String({ pattern, maxLength: 512 }) }, { additionalProperties: false, description });
}

/** The pattern of a reference to a top-level resource of `collection`. */
export function topRef(collection: string): string {
  return `^/${collection}/${RESOURCE_ID.slice(1, -1)}$`;
}

/** The pattern of a reference to a child resource `parent/{id}/child/{id}`. */
export function childRef(parent: string, child: string): string {
  const id = RESOURCE_ID.slice(1, -1);
  return `^/${parent}/${id}/${child}/${id}$`;
}

/** A read-only list of back references (e.g. a subnet's ipConfigurations), ignored on input. */
export const BackRefs = Type.Array(Type.Object({ resourceRef: Type.String({ maxLength: 512 }) }), { maxItems: 1_000_000, readOnly: true });

/** Envelope fields the controller writes; a client may send them back unchanged (they are ignored). */
const readOnlyEnvelope = {
  resourceRef: Type.Optional(Type.String({ maxLength: 512, readOnly: true })),
  instanceId: Type.Optional(Type.String({ maxLength: 64, readOnly: true })),
  etag: Type.Optional(Type.String({ maxLength: 64, readOnly: true })),
};

const readOnlyState = {
  provisioningState: Type.Optional(ProvisioningState),
  configurationState: Type.Optional(ConfigurationState),
};

export const Tags = Type.Record(Type.String({ maxLength: 128 }), Type.String({ maxLength: 256 }), { maxProperties: 64 });

export const ResourceMetadata = Type.Object(
  {
    client: Type.Optional(Text()),
    tenantId: Type.Optional(Text(128)),
    groupId: Type.Optional(Text(128)),
    resourceName: Type.Optional(Text()),
    originalHref: Type.Optional(Text(512)),
  },
  { additionalProperties: false },
);

/** A child resource (a subnet, an aclRule, an ipConfiguration...) with its own properties. */
export function ChildResource<P extends TProperties>(props: P, description: string) {
  return Type.Object(
    {
      resourceId: ResourceId,
      ...readOnlyEnvelope,
      properties: Type.Object({ ...props, ...readOnlyState }, { additionalProperties: false }),
    },
    { additionalProperties: false, description },
  );
}

/** The body of `PUT /networking/v1/<collection>/{resourceId}`. */
export function TopResource<P extends TSchema>(properties: P, description: string) {
  return Type.Object(
    {
      resourceId: Type.Optional(ResourceId),
      ...readOnlyEnvelope,
      tags: Type.Optional(Tags),
      resourceMetadata: Type.Optional(ResourceMetadata),
      properties,
    },
    { additionalProperties: false, description },
  );
}

/** The properties object of a resource: its own fields plus the read-only state fields. */
export function Properties<P extends TProperties>(props: P) {
  return Type.Object({ ...props, ...readOnlyState }, { additionalProperties: false });
}
