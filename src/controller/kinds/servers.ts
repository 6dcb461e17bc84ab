/**
 * servers: the hosts that run NICs (the next issue's host agents are these); admins only. A
 * connection says how to reach the host and with which credential.
 */
import { Type } from '@sinclair/typebox';
import type { ResourceKind } from '../kind.js';
import { Properties, Ref, Text, TopResource, topRef } from '../schema.js';

const Connection = Type.Object(
  {
    managementAddresses: Type.Array(Type.String({ pattern: '^[A-Za-z0-9.:_-]{1,253}$' }), { minItems: 1, maxItems: 8 }),
    credential: Ref(topRef('credentials'), 'The credential used on this connection'),
    credentialType: Type.Optional(Text(32)),
  },
  { additionalProperties: false },
);

export const servers: ResourceKind = {
  collection: 'servers',
  title: 'Server',
  adminOnly: true,
  body: TopResource(
    Properties({ connections: Type.Optional(Type.Array(Connection, { maxItems: 8 })), certificate: Type.Optional(Text(16384)) }),
    'A host that runs network interfaces',
  ),
  children: [],
  async check() {
    // the schema says all; the credential references are checked by the engine
  },
};
