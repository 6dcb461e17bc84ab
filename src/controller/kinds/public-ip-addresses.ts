/**
 * publicIPAddresses: an address from outside bound to one ipConfiguration (the binding is claimed by
 * the NIC's write). Only Static addresses: Dynamic ones need a public pool the controller has not got.
 */
import { Type } from '@sinclair/typebox';
import { SyError } from '../../errors.js';
import { parseIp } from '../allocation.js';
import type { ResourceKind } from '../kind.js';
import { publicIpClaimKey } from '../keys.js';
import { Address, Properties, TopResource } from '../schema.js';

export const publicIPAddresses: ResourceKind = {
  collection: 'publicIPAddresses',
  title: 'PublicIPAddress',
  adminOnly: false,
  body: TopResource(
    Properties({
      ipAddress: Type.Optional(Address),
      publicIPAllocationMethod: Type.Optional(Type.Union([Type.Literal('Static'), Type.Literal('Dynamic')])),
      idleTimeoutInMinutes: Type.Optional(Type.Integer({ minimum: 4, maximum: 30 })),
    }),
    'A public IP address',
  ),
  children: [],

  async check(c) {
    const p = c.doc.properties;
    const given = p.ipAddress as string | undefined;
    const method = (p.publicIPAllocationMethod as string | undefined) ?? (given ? 'Static' : 'Dynamic');
    if (method === 'Dynamic') throw new SyError('SY_NOT_SUPPORTED', '/properties/publicIPAllocationMethod: Dynamic public IPs need a public pool, which this controller does not have; give ipAddress with Static');
    if (!given) throw new SyError('SY_BAD_REQUEST', '/properties/ipAddress: Static allocation needs the address');
    const ip = parseIp(given, '/properties/ipAddress');
    await c.claim(publicIpClaimKey(ip), c.doc.resourceRef, (holder) => `/properties/ipAddress: ${given} is taken by ${holder}`);
    p.publicIPAllocationMethod = method;
  },
};
