/**
 * credentials: what the controller presents to a server (a certificate or a user name and password);
 * admins only. The value is never returned by a GET, and a replace that leaves it out keeps it.
 */
import { Type } from '@sinclair/typebox';
import { SyError } from '../../errors.js';
import type { ResourceKind } from '../kind.js';
import { Properties, Text, TopResource } from '../schema.js';

export const credentials: ResourceKind = {
  collection: 'credentials',
  title: 'Credential',
  adminOnly: true,
  body: TopResource(
    Properties({
      type: Type.Union([Type.Literal('X509Certificate'), Type.Literal('UsernamePassword')]),
      userName: Type.Optional(Text()),
      value: Type.Optional(Type.String({ minLength: 1, maxLength: 65536, writeOnly: true })),
    }),
    'A credential for reaching servers',
  ),
  children: [],
  secrets: ['value'],
  async check(c) {
    if (c.doc.properties.value === undefined) throw new SyError('SY_BAD_REQUEST', '/properties/value: a new credential needs its value');
  },
};
