/**
 * Docker's words → HCN documents. Pure: the driver hands the result to HostService, which validates
 * it again like any HCN request. Docker's objects become ordinary Switchyard objects whose IDs are
 * derived from Docker's (the first 32 hex digits as a GUID), so every handler can find its object
 * again after a restart of hostd or of dockerd without keeping a table of its own.
 *
 * Network options (`docker network create -o KEY=VALUE`): Switchyard's own `switchyard.*` keys and the
 * Windows `com.docker.network.windowsshim.*` keys where they mean something on Linux (`interface`
 * becomes the NetAdapterName policy, `macpool` the MacPool; hostd checks both). Keys that do not
 * apply to the network's mode are refused with SY_NOT_SUPPORTED, unknown keys with SY_BAD_REQUEST:
 * an option is never silently ignored.
 *
 * The uplink drivers (`transparent`, `l2bridge`, `l2tunnel`) are Windows' drivers of those names: the
 * network is bound to a host adapter (`interface`, or `parent` as Docker's macvlan driver names it),
 * which they require. `vlanid` becomes the subnet's VLAN policy, for hostd to judge.
 *
 * `sdnoverlay` (Docker reserves `overlay`) makes an Overlay network: `vsid` (the subnet's VSID policy,
 * the VNI) and `switchyard.provider-address` (this host's PA) are required, `switchyard.vxlan-port`
 * and `switchyard.dr-mac` optional; remote endpoints come from the controller or the CLI.
 */
import { SyError } from '../errors.js';
import type { HostComputeEndpoint, HostComputeNetwork, Policy } from '../hcn/schema.js';
import type { CreateEndpointRequest, CreateNetworkRequest, PortBinding } from './messages.js';
import { EndpointOptions } from './messages.js';
import { parseDoc } from '../hcn/schema.js';
import { parsePolicies } from '../model/policies.js';
import { hostAccessPolicies } from '../model/host-access.js';

const SHIM = 'com.docker.network.windowsshim.';
const GENERIC = 'com.docker.network.generic';

/** The HCN GUID of a Docker object: its first 32 hex digits. */
export function guidOf(dockerId: string): string {
  const h = dockerId.slice(0, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** The name Switchyard gives a Docker object when the user gave none (Docker does not send its names). */
export function dockerName(kind: 'net' | 'ep', dockerId: string): string {
  return `docker-${kind}-${dockerId.slice(0, 12)}`;
}

/** Network drivers hostd serves, by Docker driver name → HCN network Type. */
export const NETWORK_DRIVERS: Record<string, string> = { nat: 'NAT', transparent: 'Transparent', l2bridge: 'L2Bridge', l2tunnel: 'L2Tunnel', sdnoverlay: 'Overlay' };

/** The drivers whose network is bound to a host adapter (Windows' names, as `docker network create -d`). */
export const UPLINK_DRIVERS: readonly string[] = ['transparent', 'l2bridge', 'l2tunnel'];

/** What a Docker network asks of its endpoints (kept by the driver: Docker sends options once). */
export interface NetworkExtras {
  /** HCN policies every endpoint of the network gets (OutBoundNAT exceptions) */
  endpointPolicies: Policy[];
}

/** What the options of one CreateNetwork have said so far, beside the document. */
interface OptionContext {
  driver: string;
  extras: NetworkExtras;
  /** enable_outboundnat as given (undefined: not given) */
  outboundNat?: boolean;
  /** outboundnat_exceptions as given */
  exceptions?: string[];
  /** vlanid as given */
  vlan?: number;
  /** vsid as given */
  vsid?: number;
}

interface OptionRule {
  /** what the option does, for the error listing known keys */
  apply?: (value: string, doc: HostComputeNetwork, ctx: OptionContext) => void;
  /** the feature is known but not in hostd yet */
  notSupported?: string;
}

const isTrue = (v: string) => /^(1|t|true|yes|on)$/i.test(v);
const isFalse = (v: string) => /^(0|f|false|no|off)$/i.test(v);
// commas and spaces only: a newline or tab stays inside an entry, where hostd refuses it
const list = (v: string) => v.split(/[, ]+/).filter(Boolean);
const dns = (doc: HostComputeNetwork) => (doc.Dns ??= {});

const RULES: Record<string, OptionRule> = {
  'switchyard.name': { apply: (v, d) => (d.Name = v) },
  'switchyard.mtu': { apply: (v, d) => (d.MTU = intOption('switchyard.mtu', v)) },
  'switchyard.dns-servers': { apply: (v, d) => (dns(d).ServerList = list(v)) },
  'switchyard.dns-search': { apply: (v, d) => (dns(d).Search = list(v)) },
  'switchyard.dns-domain': { apply: (v, d) => (dns(d).Domain = v) },
  'switchyard.host-access': { apply: (v, d) => (d.Policies ??= []).push(...hostAccessPolicies(v, 'Option switchyard.host-access')) },
  'com.docker.network.driver.mtu': { apply: (v, d) => (d.MTU = intOption('com.docker.network.driver.mtu', v)) },
  [`${SHIM}networkname`]: { apply: (v, d) => (d.Name = v) },
  [`${SHIM}dnsservers`]: { apply: (v, d) => (dns(d).ServerList = list(v)) },
  [`${SHIM}dnssuffix`]: { apply: (v, d) => (dns(d).Domain = v) },
  [`${SHIM}enable_outboundnat`]: {
    apply: (v, _d, x) => {
      if (isTrue(v)) x.outboundNat = true;
      else if (isFalse(v)) x.outboundNat = false;
      else throw new SyError('SY_BAD_REQUEST', `Option ${SHIM}enable_outboundnat must be true or false, not "${v}"`);
    },
  },
  [`${SHIM}outboundnat_exceptions`]: { apply: (v, _d, x) => (x.exceptions = list(v)) },
  [`${SHIM}vsid`]: {
    apply: (v, _d, x) => {
      overlayOnly(x, `${SHIM}vsid`, 'a VSID is the virtual subnet of an overlay network');
      x.vsid = intOption(`${SHIM}vsid`, v, 8);
    },
  },
  'switchyard.provider-address': { apply: (v, d, x) => overlayPolicy(d, x, 'switchyard.provider-address', { Type: 'ProviderAddress', Settings: { ProviderAddress: v } }) },
  'switchyard.vxlan-port': { apply: (v, d, x) => overlayPolicy(d, x, 'switchyard.vxlan-port', { Type: 'VxlanPort', Settings: { Port: intOption('switchyard.vxlan-port', v) } }) },
  'switchyard.dr-mac': { apply: (v, d, x) => overlayPolicy(d, x, 'switchyard.dr-mac', { Type: 'DrMacAddress', Settings: { Address: v } }) },
  [`${SHIM}vlanid`]: {
    apply: (v, _d, x) => {
      if (x.driver === 'nat') throw new SyError('SY_NOT_SUPPORTED', `Option ${SHIM}vlanid is not supported: a VLAN tags what an l2bridge or transparent network puts on the wire; a nat network's traffic leaves as the host's, untagged`);
      x.vlan = intOption(`${SHIM}vlanid`, v);
    },
  },
  // As Windows binds the network to that adapter: here the one interface its traffic may leave by.
  [`${SHIM}interface`]: { apply: (v, d) => adapterOption(d, v) },
  // Docker's macvlan and ipvlan drivers name the adapter so.
  parent: {
    apply: (v, d, x) => {
      if (!UPLINK_DRIVERS.includes(x.driver)) throw new SyError('SY_NOT_SUPPORTED', `Option parent is the uplink drivers' (${UPLINK_DRIVERS.join(', ')}); a ${x.driver} network names the interface its traffic leaves by with ${SHIM}interface`);
      adapterOption(d, v);
    },
  },
  // Docker's Windows driver: "start,end[,start,end...]", each a MAC range its endpoints take MACs from.
  [`${SHIM}macpool`]: {
    apply: (v, d) => {
      const macs = list(v);
      if (!macs.length || macs.length % 2) throw new SyError('SY_BAD_REQUEST', `Option ${SHIM}macpool takes START,END pairs of MACs, not "${v}"`);
      const ranges = [];
      for (let i = 0; i < macs.length; i += 2) ranges.push({ StartMacAddress: macs[i]!, EndMacAddress: macs[i + 1]! });
      d.MacPool = { Ranges: ranges };
    },
  },
};

/** The NetAdapterName policy; given twice (interface and parent) it must name one adapter. */
function adapterOption(d: HostComputeNetwork, v: string): void {
  const have = (d.Policies ?? []).find((p) => p.Type === 'NetAdapterName');
  if (have) {
    if ((have.Settings as { NetworkAdapterName?: string }).NetworkAdapterName === v) return;
    throw new SyError('SY_BAD_REQUEST', `The network is bound to one adapter: options ${SHIM}interface and parent name different ones`);
  }
  d.Policies = [...(d.Policies ?? []), { Type: 'NetAdapterName', Settings: { NetworkAdapterName: v } }];
}

/**
 * enable_outboundnat and outboundnat_exceptions, as Docker's Windows driver reads them: an OutBoundNAT
 * policy (with the exceptions) on every endpoint of the network. A nat network always translates
 * (false is refused); an l2bridge network translates only when asked (true, or exceptions given);
 * transparent and l2tunnel endpoints are on the wire with their own addresses.
 */
function outboundNatOptions(x: OptionContext): void {
  if (x.outboundNat === undefined && x.exceptions === undefined) return;
  if (x.driver === 'nat' && x.outboundNat === false) {
    throw new SyError('SY_NOT_SUPPORTED', `Option ${SHIM}enable_outboundnat=false is not supported: NAT networks always translate outbound traffic`);
  }
  if (x.driver === 'transparent' || x.driver === 'l2tunnel') {
    if (x.outboundNat === false && x.exceptions === undefined) return;
    throw new SyError('SY_NOT_SUPPORTED', `Options ${SHIM}enable_outboundnat and outboundnat_exceptions are not supported on ${x.driver} networks: their endpoints are on the wire with their own addresses (OutBoundNAT is l2bridge's and nat's)`);
  }
  if (x.outboundNat === false) {
    if (x.exceptions !== undefined) throw new SyError('SY_BAD_REQUEST', `Option ${SHIM}outboundnat_exceptions needs outbound NAT: not with enable_outboundnat=false`);
    return;
  }
  // nat: only exceptions make a policy (the network translates anyway); l2bridge: true makes one
  if (x.driver === 'nat' && x.exceptions === undefined) return;
  const policy = { Type: 'OutBoundNAT', Settings: { Exceptions: x.exceptions ?? [] } };
  parsePolicies([policy], `Option ${SHIM}outboundnat_exceptions`);
  x.extras.endpointPolicies.push(policy);
}

function intOption(key: string, v: string, digits = 6): number {
  if (!new RegExp(`^[0-9]{1,${digits}}$`).test(v)) throw new SyError('SY_BAD_REQUEST', `Option ${key} must be a number, not "${v}"`);
  return Number(v);
}

function overlayOnly(x: OptionContext, key: string, why: string): void {
  if (x.driver !== 'sdnoverlay') throw new SyError('SY_NOT_SUPPORTED', `Option ${key} is not supported on ${x.driver} networks: ${why} (driver sdnoverlay)`);
}

/** An overlay network policy from an option, once. */
function overlayPolicy(d: HostComputeNetwork, x: OptionContext, key: string, policy: Policy): void {
  overlayOnly(x, key, 'it configures the VXLAN of an overlay network');
  d.Policies = [...(d.Policies ?? []), policy];
}

/** Docker's CreateNetwork → an HCN network document (not yet validated by hostd). */
export function networkDoc(driver: string, req: CreateNetworkRequest): HostComputeNetwork {
  return networkRequest(driver, req).doc;
}

/** Docker's CreateNetwork → the HCN network document and what its endpoints must get. */
export function networkRequest(driver: string, req: CreateNetworkRequest): { doc: HostComputeNetwork; extras: NetworkExtras } {
  const extras: NetworkExtras = { endpointPolicies: [] };
  const type = NETWORK_DRIVERS[driver];
  if (!type) throw new SyError('SY_NOT_SUPPORTED', `Network driver "${driver}" is not served by this hostd; drivers: ${Object.keys(NETWORK_DRIVERS).join(', ')}`);
  const opts = req.Options ?? {};
  const doc: HostComputeNetwork = { ID: guidOf(req.NetworkID), Name: dockerName('net', req.NetworkID), Type: type, SchemaVersion: { Major: 2, Minor: 0 } };
  const ctx: OptionContext = { driver, extras };
  if (opts['com.docker.network.enable_ipv6'] === true || (req.IPv6Data ?? []).length) {
    throw new SyError('SY_NOT_SUPPORTED', 'IPv6 is not supported yet: create the network without --ipv6');
  }
  // --internal: Docker sends it as an option of its own, not among the generic ones.
  if (opts['com.docker.network.internal'] === true) doc.Internal = true;
  const generic = opts[GENERIC];
  if (generic !== undefined && generic !== null) {
    if (typeof generic !== 'object' || Array.isArray(generic)) throw new SyError('SY_BAD_REQUEST', `${GENERIC} must be a map of options`);
    for (const [key, raw] of Object.entries(generic as Record<string, unknown>)) {
      // own keys only: "constructor" or "__proto__" must not find Object.prototype's
      const rule = Object.hasOwn(RULES, key) ? RULES[key] : undefined;
      if (!rule) {
        throw new SyError('SY_BAD_REQUEST', `Unknown network option "${key}"; known: ${Object.keys(RULES).join(', ')}`);
      }
      if (rule.notSupported) throw new SyError('SY_NOT_SUPPORTED', `Option ${key} is not supported: ${rule.notSupported}`);
      if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') throw new SyError('SY_BAD_REQUEST', `Option ${key} must be a string`);
      rule.apply!(String(raw), doc, ctx);
    }
  }
  outboundNatOptions(ctx);
  if (UPLINK_DRIVERS.includes(driver) && !(doc.Policies ?? []).some((p) => p.Type === 'NetAdapterName')) {
    throw new SyError('SY_BAD_REQUEST', `The ${driver} driver binds its network to a host adapter: give it with -o ${SHIM}interface=IFNAME (or -o parent=IFNAME)`);
  }
  if (driver === 'sdnoverlay') {
    if (ctx.vsid === undefined) throw new SyError('SY_BAD_REQUEST', `An sdnoverlay network needs its VSID (the VXLAN VNI): -o ${SHIM}vsid=4096 (4096-16777214)`);
    if (!(doc.Policies ?? []).some((p) => p.Type === 'ProviderAddress')) throw new SyError('SY_BAD_REQUEST', 'An sdnoverlay network needs this host\'s provider address: -o switchyard.provider-address=IP');
  }
  const v4 = req.IPv4Data ?? [];
  if (v4.length > 1) throw new SyError('SY_NOT_SUPPORTED', `A ${driver} network takes one IPv4 subnet, not ${v4.length}`);
  const pool = v4[0];
  const vlan = [
    ...(ctx.vlan === undefined ? [] : [{ Type: 'VLAN', Settings: { IsolationId: ctx.vlan } }]),
    ...(ctx.vsid === undefined ? [] : [{ Type: 'VSID', Settings: { IsolationId: ctx.vsid } }]),
  ];
  if (pool || vlan.length) {
    doc.Ipams = [{
      Type: 'Static',
      Subnets: [{
        ...(pool ? { IpAddressPrefix: pool.Pool } : {}),
        ...(pool?.Gateway ? { Routes: [{ NextHop: bareIp(pool.Gateway), DestinationPrefix: '0.0.0.0/0' }] } : {}),
        ...(vlan.length ? { Policies: vlan } : {}),
      }],
    }];
  }
  return { doc, extras };
}

/** Docker's CreateEndpoint → an HCN endpoint document on the network `networkId`. */
export function endpointDoc(networkId: string, req: CreateEndpointRequest, extras?: NetworkExtras): HostComputeEndpoint {
  if (req.Interface?.AddressIPv6) throw new SyError('SY_NOT_SUPPORTED', 'IPv6 endpoint addresses are not supported yet');
  const opts = parseDoc(EndpointOptions, req.Options ?? {}, 'endpoint options');
  // Port mappings wait for Join: Docker sends them for every network a container joins, and they
  // belong to one of them only (see driver.ts). Checked here already so that a bad one fails early.
  portPolicies(opts['com.docker.network.portmap'] ?? []);
  const doc: HostComputeEndpoint = {
    ID: guidOf(req.EndpointID),
    Name: dockerName('ep', req.EndpointID),
    HostComputeNetwork: networkId,
    ...(extras?.endpointPolicies.length ? { Policies: extras.endpointPolicies } : {}),
    SchemaVersion: { Major: 2, Minor: 0 },
  };
  if (req.Interface?.Address) doc.IpConfigurations = [{ IpAddress: bareIp(req.Interface.Address) }];
  const mac = req.Interface?.MacAddress || macFromBase64(opts['com.docker.network.endpoint.macaddress']);
  if (mac) doc.MacAddress = mac;
  return doc;
}

/** The port mappings in a Join's (or CreateEndpoint's) options, as HCN PortMapping policies. */
export function joinPortPolicies(options: Record<string, unknown> | null | undefined): Policy[] {
  const opts = parseDoc(EndpointOptions, options ?? {}, 'join options');
  return portPolicies(opts['com.docker.network.portmap'] ?? []);
}

/** `com.docker.network.portmap` → HCN PortMapping policies (HostPort 0: Switchyard picks one). */
export function portPolicies(bindings: PortBinding[]): Policy[] {
  return bindings.map((b, i) => {
    const end = b.HostPortEnd ?? b.HostPort;
    if (end !== b.HostPort && !(b.HostPort === 0 && end === 0)) {
      throw new SyError('SY_NOT_SUPPORTED', `Port binding ${i}: a host port range (${b.HostPort}-${end}) for one container port is not supported; publish one host port, or none to let Switchyard pick`);
    }
    const hostIp = b.HostIP ?? '';
    if (hostIp.includes(':')) throw new SyError('SY_NOT_SUPPORTED', `Port binding ${i}: IPv6 host address "${hostIp}" is not supported yet`);
    return {
      Type: 'PortMapping',
      Settings: {
        Protocol: b.Proto,
        InternalPort: b.Port,
        ExternalPort: b.HostPort,
        ...(hostIp && hostIp !== '0.0.0.0' ? { VIP: hostIp } : {}),
      },
    };
  });
}

/** "10.99.0.1/24" or "10.99.0.1" → "10.99.0.1"; anything else is refused (hostd checks the address itself). */
export function bareIp(s: string): string {
  const m = /^([0-9.]{7,15})(?:\/\d{1,2})?$/.exec(s);
  if (!m) throw new SyError('SY_INVALID_ADDRESS', `${JSON.stringify(s)} is not an IPv4 address (with an optional /prefix)`);
  return m[1]!;
}

function macFromBase64(b64: string | undefined): string | undefined {
  if (!b64) return undefined;
  // strict: Buffer.from(..., 'base64') skips what is not base64 ("prototype" would decode to 6 bytes)
  const bytes = /^[A-Za-z0-9+/]{8}$/.test(b64) ? Buffer.from(b64, 'base64') : Buffer.alloc(0);
  if (bytes.length !== 6) throw new SyError('SY_BAD_REQUEST', `MAC address option "${b64}" is not 6 bytes`);
  return [...bytes].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
