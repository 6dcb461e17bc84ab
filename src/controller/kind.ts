/**
 * What a northbound resource type is to the engine: its collection, its PUT schema, the child
 * collections kept inline in its properties (and also served at their own URLs), who may touch it,
 * and its own checks beyond the schema (addresses inside prefixes, allocations). The engine does
 * everything common (envelope, references, tenants, etags, claims, audit) once for all kinds.
 */
import type { TSchema } from '@sinclair/typebox';
import type { CheckContext } from './check-context.js';

export type Props = Record<string, unknown>;

export interface ChildDoc {
  resourceId: string;
  resourceRef: string;
  instanceId: string;
  properties: Props;
}

export interface ResourceDoc {
  resourceId: string;
  resourceRef: string;
  instanceId: string;
  tags?: Record<string, string>;
  resourceMetadata: Props & { tenantId: string };
  properties: Props;
}

/** An address (or binding) held in the store under `key` for `owner` (a resource or child ref). */
export interface Claim {
  key: string;
  owner: string;
}

/** `source` (the resource or the child holding the field) refers to `target` through `field`. */
export interface RefLink {
  source: string;
  target: string;
  field: string;
}

/** What is stored at a resource's key: the document and what the engine must undo when it changes. */
export interface StoredRecord {
  doc: ResourceDoc;
  claims: Claim[];
  refs: RefLink[];
}

export interface ChildKind {
  /** property name and URL segment, e.g. "subnets" */
  name: string;
  schema: TSchema;
  /**
   * A read-only child property computed at read time from back references: `property` lists the
   * children of collection `from` that refer to this child (a subnet's ipConfigurations).
   */
  backRefs?: { property: string; from: string };
}

export interface ResourceKind {
  collection: string;
  /** the OpenAPI component name, e.g. "VirtualNetwork" */
  title: string;
  /** provider resources (logicalNetworks, servers, credentials, macPools): admins only, shared by all tenants */
  adminOnly: boolean;
  body: TSchema;
  children: ChildKind[];
  /** properties never returned by a GET; kept from the stored document when a replace leaves them out */
  secrets?: string[];
  /** checks and allocations beyond the schema; throws SyErrors naming the field */
  check(c: CheckContext): Promise<void>;
  /** checks before a delete beyond "nothing refers to it" (a macPool whose MACs are in use) */
  checkDelete?(c: CheckContext): Promise<void>;
}
