/**
 * networkInterfaces: a NIC's MAC and its ipConfigurations. Static addresses are checked against their
 * subnet (inside it, not its network, broadcast or gateway address) and claimed; Dynamic ones are the
 * lowest free of the subnet (MAC: of the macPools, or a random free one in pools past 4,096 MACs, see
 * CheckContext.allocate), claimed the same way: the claim key's absence is a
 * compare of the write's txn, so concurrent PUTs never get the same address. A replace keeps what was
 * given before; a changed or removed address is released by the same txn (engine.ts).
 */
import { Type } from '@sinclair/typebox';
import { SyError } from '../../errors.js';
import { formatMac, hostRange, intToIp, macRange, parseIp, parseMac, parsePrefix, staticAddress } from '../allocation.js';
import type { CheckContext } from '../check-context.js';
import type { ChildDoc, Props, ResourceKind } from '../kind.js';
import { collectionPrefix, guardKey, ipClaimKey, ipClaimPrefix, MAC_CLAIMS, macClaimKey, publicIpBindKey } from '../keys.js';
import { Address, ChildResource, childRef, Properties, Ref, Text, TopResource, topRef } from '../schema.js';

const AllocationMethod = Type.Union([Type.Literal('Static'), Type.Literal('Dynamic')]);
const Switch = Type.Union([Type.Literal('Enabled'), Type.Literal('Disabled')]);
const Mbps = Type.Integer({ minimum: 0, maximum: 1_000_000 });

export const IpConfiguration = ChildResource(
  {
    privateIPAddress: Type.Optional(Address),
    privateIPAllocationMethod: Type.Optional(AllocationMethod),
    subnet: Ref(childRef('virtualNetworks', 'subnets'), 'The virtual network subnet the address is from'),
    accessControlList: Type.Optional(Ref(topRef('accessControlLists'), 'The ACL applied to this address')),
    publicIPAddress: Type.Optional(Ref(topRef('publicIPAddresses'), 'A public IP bound to this address (one ipConfiguration per public IP)')),
  },
  'An address of a network interface',
);

export const networkInterfaces: ResourceKind = {
  collection: 'networkInterfaces',
  title: 'NetworkInterface',
  adminOnly: false,
  body: TopResource(
    Properties({
      ipConfigurations: Type.Optional(Type.Array(IpConfiguration, { maxItems: 64 })),
      privateMacAddress: Type.Optional(Text(32)),
      privateMacAllocationMethod: Type.Optional(AllocationMethod),
      portSettings: Type.Optional(
        Type.Object(
          {
            macSpoofing: Type.Optional(Switch),
            arpGuard: Type.Optional(Switch),
            qosSettings: Type.Optional(Type.Object({ outboundMaximumMbps: Type.Optional(Mbps), inboundMaximumMbps: Type.Optional(Mbps) }, { additionalProperties: false })),
          },
          { additionalProperties: false },
        ),
      ),
      server: Type.Optional(Ref(topRef('servers'), 'The host the NIC is placed on')),
      dnsSettings: Type.Optional(Type.Object({ dnsServers: Type.Optional(Type.Array(Address, { maxItems: 16 })) }, { additionalProperties: false })),
    }),
    'A virtual network interface',
  ),
  children: [{ name: 'ipConfigurations', schema: IpConfiguration }],

  async check(c) {
    const p = c.doc.properties;
    for (const [i, dns] of (((p.dnsSettings as Props | undefined)?.dnsServers ?? []) as string[]).entries()) parseIp(dns, `/properties/dnsSettings/dnsServers/${i}`);
    await assignMac(c);
    const before = new Map(((c.prev?.doc.properties.ipConfigurations ?? []) as ChildDoc[]).map((x) => [x.resourceId, x.properties]));
    for (const [i, cfg] of (p.ipConfigurations as ChildDoc[]).entries()) await assignIp(c, cfg, before.get(cfg.resourceId), `/properties/ipConfigurations/${i}/properties`);
  },
};

/** A private address for `cfg` (an ipConfiguration, or a load balancer's frontend): given and claimed, or the lowest free. */
export async function assignIp(c: CheckContext, cfg: ChildDoc, prev: Props | undefined, field: string): Promise<void> {
  const p = cfg.properties;
  const subnetRef = (p.subnet as { resourceRef: string }).resourceRef;
  const subnet = (await c.resolve(subnetRef, `${field}/subnet`)).target.properties;
  const prefixText = subnet.addressPrefix as string;
  const given = p.privateIPAddress as string | undefined;
  const method = (p.privateIPAllocationMethod as string | undefined) ?? (given ? 'Static' : 'Dynamic');
  const taken = (holder: string) => `${field}/privateIPAddress: ${given ?? ''} in ${subnetRef} is taken by ${holder}`;
  let ip: number;
  if (method === 'Static') {
    if (!given) throw new SyError('SY_BAD_REQUEST', `${field}/privateIPAddress: Static allocation needs the address`);
    ip = staticAddress(given, prefixText, `${field}/privateIPAddress`);
    await c.claim(ipClaimKey(subnetRef, ip), cfg.resourceRef, taken);
  } else {
    // Dynamic: the address given before stays (a GET written back carries it); another one is asked with Static
    const kept = prev && (prev.subnet as { resourceRef: string }).resourceRef === subnetRef ? (prev.privateIPAddress as string | undefined) : undefined;
    if (given !== undefined && given !== kept) {
      throw new SyError('SY_BAD_REQUEST', `${field}/privateIPAddress: ${given} was not given to this ipConfiguration; to choose the address, use privateIPAllocationMethod Static`);
    }
    if (kept !== undefined) {
      ip = parseIp(kept, `${field}/privateIPAddress`);
      await c.claim(ipClaimKey(subnetRef, ip), cfg.resourceRef, taken);
    } else {
      const range = hostRange(parsePrefix(prefixText, `${subnetRef} addressPrefix`));
      const n = range && (await c.allocate(ipClaimPrefix(subnetRef), (x) => ipClaimKey(subnetRef, x), [range], cfg.resourceRef));
      if (n === undefined) throw new SyError('SY_SUBNET_FULL', `${field}: no free address left in ${subnetRef} (${prefixText})`);
      ip = n;
    }
  }
  p.privateIPAddress = intToIp(ip);
  p.privateIPAllocationMethod = method;
  const pip = p.publicIPAddress as { resourceRef: string } | undefined;
  if (pip) await c.claim(publicIpBindKey(pip.resourceRef), cfg.resourceRef, (holder) => `${field}/publicIPAddress: ${pip.resourceRef} is bound to ${holder}`, 'SY_IN_USE');
}

async function assignMac(c: CheckContext): Promise<void> {
  const p = c.doc.properties;
  const field = '/properties/privateMacAddress';
  const given = p.privateMacAddress as string | undefined;
  const method = (p.privateMacAllocationMethod as string | undefined) ?? (given ? 'Static' : 'Dynamic');
  // the pools as a whole: a macPool write bumps this guard, so pools cannot change under this check
  await c.txn.get(guardKey('macPools'));
  const pools = (await c.txn.range(collectionPrefix('macPools')))
    .map((kv) => (JSON.parse(kv.value) as { doc: { properties: Props } }).doc.properties)
    .map((mp) => macRange(mp.startMacAddress as string, mp.endMacAddress as string, 'macPool'))
    .sort((a, b) => a.first - b.first);
  const owner = c.doc.resourceRef;
  const taken = (holder: string) => `${field}: ${given ?? ''} is taken by ${holder}`;
  const prevMac = c.prev?.doc.properties.privateMacAddress as string | undefined;
  let mac: number;
  if (method === 'Static' || (given !== undefined && given === prevMac)) {
    if (!given) throw new SyError('SY_BAD_REQUEST', `${field}: Static allocation needs the address`);
    mac = parseMac(given, field);
    if (!pools.some((r) => r.first <= mac && mac <= r.last)) throw new SyError('SY_INVALID_ADDRESS', `${field}: ${given} is in no macPool`);
    await c.claim(macClaimKey(mac), owner, taken);
  } else {
    if (given !== undefined) throw new SyError('SY_BAD_REQUEST', `${field}: ${given} was not given to this NIC; to choose the address, use privateMacAllocationMethod Static`);
    const kept = prevMac !== undefined ? parseMac(prevMac, field) : undefined;
    if (kept !== undefined) {
      mac = kept;
      await c.claim(macClaimKey(mac), owner, taken);
    } else {
      const n = await c.allocate(MAC_CLAIMS, macClaimKey, pools, owner, true);
      if (n === undefined) throw new SyError('SY_MAC_POOL_FULL', `${field}: ${pools.length ? 'every macPool is used up' : 'no macPool exists to allocate from'}`);
      mac = n;
    }
  }
  p.privateMacAddress = formatMac(mac);
  p.privateMacAllocationMethod = method;
}
