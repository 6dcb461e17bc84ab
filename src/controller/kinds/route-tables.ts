/**
 * routeTables: user routes for the subnets that refer to the table. One route per prefix; a virtual
 * appliance hop needs its address, the other hop types must not have one.
 */
import { Type } from '@sinclair/typebox';
import { SyError } from '../../errors.js';
import { cidrToString } from '../../model/ipv4.js';
import { parseIp, parsePrefix } from '../allocation.js';
import type { ChildDoc, ResourceKind } from '../kind.js';
import { Address, ChildResource, Properties, TopResource } from '../schema.js';

export const Route = ChildResource(
  {
    addressPrefix: Address,
    nextHopType: Type.Union(['VirtualAppliance', 'VnetLocal', 'Internet', 'None'].map((x) => Type.Literal(x))),
    nextHopIpAddress: Type.Optional(Address),
  },
  'A route of a route table',
);

export const routeTables: ResourceKind = {
  collection: 'routeTables',
  title: 'RouteTable',
  adminOnly: false,
  body: TopResource(Properties({ routes: Type.Optional(Type.Array(Route, { maxItems: 1000 })) }), 'A route table'),
  children: [{ name: 'routes', schema: Route }],

  async check(c) {
    const seen = new Map<string, number>();
    for (const [i, r] of (c.doc.properties.routes as ChildDoc[]).entries()) {
      const p = r.properties;
      const f = `/properties/routes/${i}/properties`;
      const prefix = cidrToString(parsePrefix(p.addressPrefix as string, `${f}/addressPrefix`));
      const dup = seen.get(prefix);
      if (dup !== undefined) throw new SyError('SY_BAD_REQUEST', `${f}/addressPrefix: ${prefix} is already routed by routes/${dup}`);
      seen.set(prefix, i);
      const hop = p.nextHopIpAddress as string | undefined;
      if (p.nextHopType === 'VirtualAppliance') {
        if (hop === undefined) throw new SyError('SY_BAD_REQUEST', `${f}/nextHopIpAddress: a VirtualAppliance hop needs the appliance's address`);
        parseIp(hop, `${f}/nextHopIpAddress`);
      } else if (hop !== undefined) throw new SyError('SY_BAD_REQUEST', `${f}/nextHopIpAddress: only a VirtualAppliance hop has an address, not ${String(p.nextHopType)}`);
    }
  },
};
