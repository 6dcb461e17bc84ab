/**
 * loadBalancers: an L4 load balancer, as [MS-NCNBI] shapes it. Frontend IP configurations are VIPs
 * (an address of a virtual or logical subnet, claimed like a NIC's so a VIP never collides with an
 * endpoint; or a public IP); backend address pools list NIC ipConfigurations; load-balancing rules
 * spread a frontend port over a pool (5-tuple, SourceIP or SourceIPProtocol affinity, floating IP
 * for direct server return) with an optional health probe; inbound NAT rules map one frontend port
 * to one backend; outbound NAT rules translate a pool's traffic to a frontend. References between
 * the load balancer's own children are checked against the document being written.
 */
import { Type } from '@sinclair/typebox';
import { SyError } from '../../errors.js';
import type { CheckContext } from '../check-context.js';
import { parseRef } from '../check-context.js';
import type { ChildDoc, ResourceKind } from '../kind.js';
import { publicIpBindKey } from '../keys.js';
import { Address, ChildResource, childRef, Properties, Ref, RESOURCE_ID, TopResource, topRef } from '../schema.js';
import { assignIp } from './network-interfaces.js';

const lit = (...xs: string[]) => Type.Union(xs.map((x) => Type.Literal(x)));
const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const id = RESOURCE_ID.slice(1, -1);
const own = (child: string) => Type.String({ pattern: `^/loadBalancers/${id}/${child}/${id}$`, maxLength: 512 });
const OwnRef = (child: string, description: string) => Type.Object({ resourceRef: own(child) }, { additionalProperties: false, description });
const IpConfigRef = Ref(childRef('networkInterfaces', 'ipConfigurations'), 'A NIC ipConfiguration');

const Frontend = ChildResource(
  {
    privateIPAddress: Type.Optional(Address),
    privateIPAllocationMethod: Type.Optional(lit('Static', 'Dynamic')),
    subnet: Type.Optional(Ref(`^/(virtualNetworks|logicalNetworks)/${id}/subnets/${id}$`, 'The subnet the VIP is an address of')),
    publicIPAddress: Type.Optional(Ref(topRef('publicIPAddresses'), 'A public IP as the VIP')),
  },
  'A frontend (VIP) of the load balancer',
);
const Pool = ChildResource({ backendIPConfigurations: Type.Optional(Type.Array(IpConfigRef, { maxItems: 10_000 })) }, 'A pool of backends');
const Rule = ChildResource(
  {
    frontendIPConfigurations: Type.Array(OwnRef('frontendIPConfigurations', 'A frontend of this load balancer'), { minItems: 1, maxItems: 8 }),
    backendAddressPool: OwnRef('backendAddressPools', 'The pool the rule spreads over'),
    protocol: lit('TCP', 'UDP'),
    frontendPort: Port,
    backendPort: Type.Optional(Port),
    loadDistribution: Type.Optional(lit('Default', 'SourceIP', 'SourceIPProtocol')),
    enableFloatingIP: Type.Optional(Type.Boolean({ description: 'Direct server return: backends answer from the VIP' })),
    idleTimeoutInMinutes: Type.Optional(Type.Integer({ minimum: 4, maximum: 30 })),
    probe: Type.Optional(OwnRef('probes', 'The health probe deciding membership')),
  },
  'A load-balancing rule',
);
const Probe = ChildResource(
  {
    protocol: lit('TCP', 'HTTP'),
    port: Port,
    requestPath: Type.Optional(Type.String({ pattern: '^/[\\x21-\\x7e]{0,1023}$' })),
    intervalInSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
    numberOfProbes: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  },
  'A health probe',
);
const InboundNat = ChildResource(
  {
    frontendIPConfigurations: Type.Array(OwnRef('frontendIPConfigurations', 'A frontend of this load balancer'), { minItems: 1, maxItems: 8 }),
    backendIPConfiguration: IpConfigRef,
    protocol: lit('TCP', 'UDP'),
    frontendPort: Port,
    backendPort: Type.Optional(Port),
    enableFloatingIP: Type.Optional(Type.Boolean()),
  },
  'An inbound NAT rule: one frontend port to one backend',
);
const OutboundNat = ChildResource(
  {
    frontendIPConfigurations: Type.Array(OwnRef('frontendIPConfigurations', 'A frontend of this load balancer'), { minItems: 1, maxItems: 8 }),
    backendAddressPool: OwnRef('backendAddressPools', 'The pool whose traffic is translated'),
    protocol: Type.Optional(lit('TCP', 'UDP', 'All')),
  },
  'An outbound NAT rule: a pool leaves as a frontend',
);

export const loadBalancers: ResourceKind = {
  collection: 'loadBalancers',
  title: 'LoadBalancer',
  adminOnly: false,
  body: TopResource(
    Properties({
      frontendIPConfigurations: Type.Array(Frontend, { minItems: 1, maxItems: 64 }),
      backendAddressPools: Type.Optional(Type.Array(Pool, { maxItems: 64 })),
      loadBalancingRules: Type.Optional(Type.Array(Rule, { maxItems: 1000 })),
      probes: Type.Optional(Type.Array(Probe, { maxItems: 64 })),
      inboundNatRules: Type.Optional(Type.Array(InboundNat, { maxItems: 1000 })),
      outboundNatRules: Type.Optional(Type.Array(OutboundNat, { maxItems: 64 })),
    }),
    'An L4 load balancer',
  ),
  children: [
    { name: 'frontendIPConfigurations', schema: Frontend },
    { name: 'backendAddressPools', schema: Pool },
    { name: 'loadBalancingRules', schema: Rule },
    { name: 'probes', schema: Probe },
    { name: 'inboundNatRules', schema: InboundNat },
    { name: 'outboundNatRules', schema: OutboundNat },
  ],

  async check(c) {
    const p = c.doc.properties;
    const list = (name: string) => (p[name] ?? []) as ChildDoc[];
    // the VIPs: an address claimed in its subnet, or a public IP
    const vnetOf = new Map<string, string | undefined>();
    const before = new Map(((c.prev?.doc.properties.frontendIPConfigurations ?? []) as ChildDoc[]).map((x) => [x.resourceId, x.properties]));
    for (const [i, f] of list('frontendIPConfigurations').entries()) {
      const field = `/properties/frontendIPConfigurations/${i}/properties`;
      const fp = f.properties;
      if ((fp.subnet === undefined) === (fp.publicIPAddress === undefined)) throw new SyError('SY_BAD_REQUEST', `${field}: give a subnet (a private VIP) or a publicIPAddress, one of them`);
      if (fp.subnet) {
        await assignIp(c, f, before.get(f.resourceId), field);
        const s = parseRef((fp.subnet as { resourceRef: string }).resourceRef)!;
        vnetOf.set(f.resourceRef, s.collection === 'virtualNetworks' ? `/virtualNetworks/${s.id}` : undefined);
      } else {
        const pip = (fp.publicIPAddress as { resourceRef: string }).resourceRef;
        await c.claim(publicIpBindKey(pip), f.resourceRef, (holder) => `${field}/publicIPAddress: ${pip} is bound to ${holder}`, 'SY_IN_USE');
        vnetOf.set(f.resourceRef, undefined);
      }
    }
    // the pools' members, and the virtual network each is in
    const poolVnets = new Map<string, Set<string>>();
    for (const [i, pool] of list('backendAddressPools').entries()) {
      const vnets = new Set<string>();
      for (const [j, m] of ((pool.properties.backendIPConfigurations ?? []) as { resourceRef: string }[]).entries()) {
        vnets.add(await vnetOfIpConfig(c, m.resourceRef, `/properties/backendAddressPools/${i}/properties/backendIPConfigurations/${j}`));
      }
      poolVnets.set(pool.resourceRef, vnets);
    }
    // references to frontends, pools and probes are to this load balancer's own
    const mine = `${c.doc.resourceRef}/`;
    for (const name of ['loadBalancingRules', 'inboundNatRules', 'outboundNatRules']) {
      for (const [i, r] of list(name).entries()) {
        const rp = r.properties;
        const refs: [string, unknown][] = [
          ...((rp.frontendIPConfigurations ?? []) as unknown[]).map((x, j): [string, unknown] => [`frontendIPConfigurations/${j}`, x]),
          ['backendAddressPool', rp.backendAddressPool],
          ['probe', rp.probe],
        ];
        for (const [f, x] of refs) {
          const ref = (x as { resourceRef?: string } | undefined)?.resourceRef;
          if (ref !== undefined && !ref.startsWith(mine)) throw new SyError('SY_BAD_REQUEST', `/properties/${name}/${i}/properties/${f}: "${ref}" is not part of ${c.doc.resourceRef}`);
        }
      }
    }
    // one frontend port per (VIP, protocol), over the rules and the inbound NAT rules
    const used = new Map<string, string>();
    const probes = new Map(list('probes').map((x) => [x.resourceRef, x.properties]));
    for (const [name, kind] of [['loadBalancingRules', 'rule'], ['inboundNatRules', 'nat']] as const) {
      for (const [i, r] of list(name).entries()) {
        const field = `/properties/${name}/${i}/properties`;
        const rp = r.properties;
        for (const fe of rp.frontendIPConfigurations as { resourceRef: string }[]) {
          const key = `${fe.resourceRef} ${String(rp.protocol)} ${String(rp.frontendPort)}`;
          const other = used.get(key);
          if (other) throw new SyError('SY_BAD_REQUEST', `${field}/frontendPort: ${String(rp.protocol)} ${String(rp.frontendPort)} on ${fe.resourceRef} is already used by ${other}`);
          used.set(key, r.resourceRef);
          // a backend must be reachable from the VIP: a private VIP serves its own virtual network
          const vip = vnetOf.get(fe.resourceRef);
          const backends = kind === 'rule' ? [...(poolVnets.get((rp.backendAddressPool as { resourceRef: string }).resourceRef) ?? [])] : [await vnetOfIpConfig(c, (rp.backendIPConfiguration as { resourceRef: string }).resourceRef, `${field}/backendIPConfiguration`)];
          const far = vip === undefined ? undefined : backends.find((v) => v !== vip);
          if (far) throw new SyError('SY_BAD_REQUEST', `${field}: a backend in ${far} cannot be reached from ${fe.resourceRef}, a VIP of ${vip}`);
        }
        rp.backendPort ??= rp.frontendPort;
        if (kind === 'rule') {
          rp.loadDistribution ??= 'Default';
          const probe = rp.probe as { resourceRef: string } | undefined;
          const pr = probe && probes.get(probe.resourceRef);
          if (probe && !pr) throw new SyError('SY_BAD_REQUEST', `${field}/probe: "${probe.resourceRef}" does not exist`);
        }
      }
    }
    for (const [i, pr] of list('probes').entries()) {
      const pp = pr.properties;
      if (pp.protocol === 'HTTP' && pp.requestPath === undefined) throw new SyError('SY_BAD_REQUEST', `/properties/probes/${i}/properties/requestPath: an HTTP probe needs the path it GETs`);
      if (pp.protocol === 'TCP' && pp.requestPath !== undefined) throw new SyError('SY_BAD_REQUEST', `/properties/probes/${i}/properties/requestPath: a TCP probe only connects`);
      pp.intervalInSeconds ??= 15;
      pp.numberOfProbes ??= 2;
    }
  },
};

/** The virtual network of a NIC ipConfiguration (the engine has checked it exists and is the writer's tenant's). */
async function vnetOfIpConfig(c: CheckContext, ref: string, field: string): Promise<string> {
  const ipc = (await c.resolve(ref, field)).target as ChildDoc;
  const subnet = parseRef((ipc.properties.subnet as { resourceRef: string }).resourceRef)!;
  return `/${subnet.collection}/${subnet.id}`;
}

