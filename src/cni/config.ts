/**
 * The CNI request as the plugin receives it: the CNI_* environment and the network configuration on
 * stdin (with name, cniVersion, runtimeConfig and prevResult filled in by the runtime). Everything
 * is validated here, before any of it reaches hostd, and turned into one typed Request. Pure: no I/O.
 * Written out by hand rather than as TypeBox schemas like the HCN documents: the plugin is started
 * for every ADD and DEL, and a bundle without dependencies starts fastest; hostd validates again.
 */
import { CNI_CODES, CniError } from './errors.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../model/json-depth.js';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const DEFAULT_SOCKET = '/run/switchyard/hns.sock';
export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'] as const;
export type Command = (typeof COMMANDS)[number];

/** The spec's pattern for network names and container ids. */
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** hostd's rule for interface names (stricter than Linux's): refused here, before any request is made */
const IFNAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const PATH_RE = /^\/[A-Za-z0-9_.:@/-]{1,1000}$/;
/** hostd's rule for DNS domains: labels of letters, digits, _ and -, not starting with - */
const DOMAIN_RE = /^(?=.{1,253}$)[A-Za-z0-9_][A-Za-z0-9_-]{0,62}(\.[A-Za-z0-9_][A-Za-z0-9_-]{0,62})*\.?$/;
/** An IPv4 address, or an IPv6 one with an optional %zone (no node:net here: Bun would take ~10 ms to load it) */
const NAMESERVER_RE = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%[A-Za-z0-9_.-]{1,15})?)$/;
const MODES: Record<string, string> = { nat: 'NAT', transparent: 'Transparent', l2bridge: 'L2Bridge', l2tunnel: 'L2Tunnel', overlay: 'Overlay' };
/** The HCN Types whose network is bound to a host adapter (`master`). */
const UPLINK_MODES: readonly string[] = ['Transparent', 'L2Bridge', 'L2Tunnel'];

export interface PortMappingRequest {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  hostIP?: string;
}

export interface BandwidthRequest {
  ingressRate?: number;
  ingressBurst?: number;
  egressRate?: number;
  egressBurst?: number;
}

export interface IpRange {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
}

export interface DnsRequest {
  nameservers: string[];
  domain?: string;
  search: string[];
  options: string[];
}

export interface HcnPolicy {
  Type: string;
  Settings?: unknown;
}

/** One CNI result as the spec writes it (1.x shape; older versions are converted on output). */
export interface CniResult {
  cniVersion?: string;
  interfaces?: { name: string; mac?: string; mtu?: number; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number; version?: string }[];
  routes?: { dst: string; gw?: string }[];
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  socket: string;
  /** HCN network Type for the network hostd makes on the first ADD */
  networkType: string;
  subnet?: string;
  gateway?: string;
  /** `"ipam": {"type": "dhcp"}` (mode transparent): containers lease their addresses from a DHCP server on the adapter's network, through hostd */
  dhcp?: true;
  mtu?: number;
  /** mode overlay: the subnet's VSID (the VXLAN VNI), as the VSID policy of its subnet */
  vsid?: number;
  /** seconds to wait for hostd's answer to one request */
  timeoutSeconds: number;
  dns?: DnsRequest;
  endpointPolicies: HcnPolicy[];
  networkPolicies: HcnPolicy[];
  portMappings: PortMappingRequest[];
  bandwidth?: BandwidthRequest;
  ipRanges: IpRange[][];
  runtimeDns?: DnsRequest;
  /** static addresses asked for by runtimeConfig.ips or CNI_ARGS IP= */
  ips: string[];
  prevResult?: CniResult;
  validAttachments?: { containerID: string; ifname: string }[];
}

export interface Request {
  command: Command;
  containerId: string;
  netns: string;
  ifName: string;
  conf: NetConf;
}

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(msg: string): CniError {
  return new CniError(CNI_CODES.INVALID_CONFIG, msg);
}

/** The command from CNI_COMMAND, or error 4 (the spec's "invalid necessary environment variables"). */
export function commandOf(env: Record<string, string | undefined>): Command {
  const c = env.CNI_COMMAND;
  if (!c) throw new CniError(CNI_CODES.INVALID_ENV, 'CNI_COMMAND is not set');
  if (!(COMMANDS as readonly string[]).includes(c)) throw new CniError(CNI_CODES.INVALID_ENV, `CNI_COMMAND "${c}" is not one of ${COMMANDS.join(', ')}`);
  return c as Command;
}

/** The cniVersion of a config, or the newest when the config says nothing (used for VERSION and errors). */
export function versionOf(stdin: string): string {
  try {
    const raw = JSON.parse(stdin) as Json;
    return (typeof raw.cniVersion === 'string' && raw.cniVersion) || newestOf(raw.cniVersions) || '1.1.0';
  } catch {
    return '1.1.0';
  }
}

/** The newest of a cniVersions list (spec 1.1) that the plugin supports, if any. */
function newestOf(list: unknown): string | undefined {
  if (!Array.isArray(list)) return undefined;
  return [...SUPPORTED_VERSIONS].reverse().find((v) => list.includes(v));
}

export function parseRequest(env: Record<string, string | undefined>, stdin: string): Request {
  const command = commandOf(env);
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(CNI_CODES.DECODE_FAILURE, `The network configuration on stdin is not JSON: ${(e as Error).message}`);
  }
  if (!isObj(raw)) throw new CniError(CNI_CODES.DECODE_FAILURE, 'The network configuration on stdin is not a JSON object');
  if (nestsDeeperThan(raw, MAX_JSON_DEPTH)) throw new CniError(CNI_CODES.DECODE_FAILURE, `The network configuration on stdin nests deeper than ${MAX_JSON_DEPTH} levels`);
  const conf = parseNetConf(raw, command);

  const needsContainer = command === 'ADD' || command === 'DEL' || command === 'CHECK';
  const missing: string[] = [];
  if (needsContainer) {
    for (const k of ['CNI_CONTAINERID', 'CNI_IFNAME']) if (!env[k]) missing.push(k);
    if (command !== 'DEL' && !env.CNI_NETNS) missing.push('CNI_NETNS');
  }
  if (command !== 'STATUS' && command !== 'VERSION' && !env.CNI_PATH) missing.push('CNI_PATH');
  if (missing.length) throw new CniError(CNI_CODES.INVALID_ENV, `Required environment variable(s) ${missing.join(', ')} not set`);
  const containerId = env.CNI_CONTAINERID ?? '';
  const ifName = env.CNI_IFNAME ?? '';
  const netns = env.CNI_NETNS ?? '';
  if (needsContainer) {
    if (!NAME_RE.test(containerId)) throw new CniError(CNI_CODES.INVALID_ENV, `CNI_CONTAINERID ${JSON.stringify(containerId)} is not valid: letters, digits, _ . - and a letter or digit first`);
    if (!IFNAME_RE.test(ifName)) throw new CniError(CNI_CODES.INVALID_ENV, `CNI_IFNAME ${JSON.stringify(ifName)} is not a valid interface name`);
    if (netns && (!PATH_RE.test(netns) || netns.split('/').some((p) => p === '..' || p.startsWith('-')))) {
      throw new CniError(CNI_CODES.INVALID_ENV, `CNI_NETNS ${JSON.stringify(netns)} is not an absolute path of letters, digits and _.:@/-`);
    }
  }
  if (command === 'ADD' || command === 'CHECK' || command === 'DEL') {
    for (const kv of (env.CNI_ARGS ?? '').split(';').filter(Boolean)) {
      const [k, v] = kv.split('=', 2);
      if (v === undefined) throw new CniError(CNI_CODES.INVALID_ENV, `CNI_ARGS entry ${JSON.stringify(kv)} is not KEY=VALUE`);
      if (k === 'IP' && command === 'ADD') conf.ips.push(...v.split(',').map((ip) => checkIPv4(ip.split('/')[0]!, 'CNI_ARGS IP')));
    }
  }
  if ((command === 'GC' || command === 'STATUS') && conf.cniVersion !== '1.1.0') {
    throw new CniError(CNI_CODES.INCOMPATIBLE_VERSION, `${command} needs cniVersion 1.1.0 (the config says ${conf.cniVersion})`);
  }
  if (command === 'CHECK' && (conf.cniVersion === '0.3.0' || conf.cniVersion === '0.3.1')) {
    throw new CniError(CNI_CODES.INCOMPATIBLE_VERSION, `CHECK needs cniVersion 0.4.0 or newer (the config says ${conf.cniVersion})`);
  }
  return { command, containerId, netns, ifName, conf };
}

function parseNetConf(raw: Json, command: Command): NetConf {
  // Spec 1.1: a configuration may list every version it conforms to (cniVersions); a runtime that
  // passes the list on without choosing gets the newest one both sides speak.
  if (raw.cniVersions !== undefined && (!Array.isArray(raw.cniVersions) || !raw.cniVersions.every((v) => typeof v === 'string'))) {
    throw bad('cniVersions is not a list of versions');
  }
  const cniVersion = raw.cniVersion || newestOf(raw.cniVersions);
  if (!cniVersion && raw.cniVersions !== undefined) {
    throw new CniError(CNI_CODES.INCOMPATIBLE_VERSION, `none of cniVersions ${JSON.stringify(raw.cniVersions)} is supported; supported: ${SUPPORTED_VERSIONS.join(', ')}`);
  }
  if (typeof cniVersion !== 'string' || !cniVersion) throw bad('cniVersion is missing (or not a string)');
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion)) {
    throw new CniError(CNI_CODES.INCOMPATIBLE_VERSION, `cniVersion "${cniVersion}" is not supported; supported: ${SUPPORTED_VERSIONS.join(', ')}`);
  }
  const name = raw.name;
  if (typeof name !== 'string' || !NAME_RE.test(name) || name.length > 128) throw bad(`name ${JSON.stringify(name)} is not a valid network name (letters, digits, _ . -, at most 128)`);
  if (typeof raw.type !== 'string' || !raw.type) throw bad('type is missing');
  const socket = raw.socket ?? DEFAULT_SOCKET;
  if (typeof socket !== 'string' || !PATH_RE.test(socket) || socket.split('/').includes('..')) throw bad(`socket ${JSON.stringify(socket)} is not an absolute path`);
  const mode = raw.mode ?? 'nat';
  if (typeof mode !== 'string' || !Object.hasOwn(MODES, mode.toLowerCase())) throw bad(`mode ${JSON.stringify(mode)} is not one of ${Object.keys(MODES).join(', ')}`);
  const conf: NetConf = {
    cniVersion,
    name,
    type: raw.type,
    socket,
    networkType: MODES[mode.toLowerCase()]!,
    timeoutSeconds: 60,
    endpointPolicies: [],
    networkPolicies: [],
    portMappings: [],
    ipRanges: [],
    ips: [],
  };
  if (raw.subnet !== undefined) conf.subnet = checkCidr(raw.subnet, 'subnet');
  if (raw.gateway !== undefined) conf.gateway = checkIPv4(raw.gateway, 'gateway');
  if (raw.mtu !== undefined) conf.mtu = checkInt(raw.mtu, 'mtu', 576, 65535);
  if (raw.timeout !== undefined) conf.timeoutSeconds = checkInt(raw.timeout, 'timeout', 1, 3600);
  if (raw.dns !== undefined) conf.dns = parseDns(raw.dns, 'dns');
  parseAdditionalArgs(raw.AdditionalArgs, conf);
  // As the reference macvlan plugin names its parent: the host adapter an uplink network is bound to
  // (HCN's NetAdapterName, which may also come as a raw NetworkPolicy; hostd checks it).
  if (raw.master !== undefined) {
    if (typeof raw.master !== 'string' || !IFNAME_RE.test(raw.master)) throw bad(`master ${JSON.stringify(raw.master)} is not an interface name`);
    const given = conf.networkPolicies.find((p) => p.Type === 'NetAdapterName');
    if (given && (given.Settings as { NetworkAdapterName?: unknown } | undefined)?.NetworkAdapterName !== raw.master) {
      throw bad(`master "${raw.master}" and the NetAdapterName policy name different adapters`);
    }
    if (!given) conf.networkPolicies.push({ Type: 'NetAdapterName', Settings: { NetworkAdapterName: raw.master } });
  }
  if (raw.ipam !== undefined) {
    if (!isObj(raw.ipam)) throw bad('ipam is not an object');
    // Only DHCP is taken from "ipam" (as the reference dhcp plugin is named); other ipam sections are ignored as before.
    if (raw.ipam.type === 'dhcp') {
      if (conf.networkType !== 'Transparent') throw new CniError(CNI_CODES.UNSUPPORTED_FIELD, `ipam type "dhcp" is for mode transparent (each container's own MAC on the wire), not ${mode}`);
      if (conf.gateway !== undefined) throw bad('gateway is not for ipam type "dhcp": each lease names its router');
      conf.dhcp = true;
    }
  }
  if (command === 'ADD' && UPLINK_MODES.includes(conf.networkType) && !conf.networkPolicies.some((p) => p.Type === 'NetAdapterName' || p.Type === 'UpstreamSwitch')) {
    throw bad(`mode ${mode} binds the network to a host adapter: give it as "master": "IFNAME" (or a NetAdapterName NetworkPolicy)`);
  }
  // Overlay (the win-overlay plugin's mode): the VSID and this host's provider address, as keys or raw policies
  if (raw.vsid !== undefined || raw.providerAddress !== undefined) {
    if (conf.networkType !== 'Overlay') throw bad(`vsid and providerAddress are for mode overlay, not ${mode}`);
    if (raw.vsid !== undefined) conf.vsid = checkInt(raw.vsid, 'vsid', 4096, 16_777_214);
    if (raw.providerAddress !== undefined) {
      const pa = checkIPv4(raw.providerAddress, 'providerAddress');
      const given = conf.networkPolicies.find((p) => p.Type === 'ProviderAddress');
      if (given && (given.Settings as { ProviderAddress?: unknown } | undefined)?.ProviderAddress !== pa) throw bad('providerAddress and the ProviderAddress policy name different addresses');
      if (!given) conf.networkPolicies.push({ Type: 'ProviderAddress', Settings: { ProviderAddress: pa } });
    }
  }
  if (command === 'ADD' && conf.networkType === 'Overlay') {
    if (conf.vsid === undefined) throw bad('mode overlay needs the subnet\'s "vsid" (4096-16777214, the VXLAN VNI)');
    if (!conf.networkPolicies.some((p) => p.Type === 'ProviderAddress')) throw bad('mode overlay needs this host\'s "providerAddress" (or a ProviderAddress NetworkPolicy)');
  }
  if (raw.prevResult !== undefined) conf.prevResult = parsePrevResult(raw.prevResult);
  const rc = raw.runtimeConfig ?? {};
  if (!isObj(rc)) throw bad('runtimeConfig is not an object');
  if (command === 'ADD' || command === 'CHECK') {
    if (rc.portMappings !== undefined) conf.portMappings = parsePortMappings(rc.portMappings);
    if (conf.portMappings.length && conf.networkType !== 'NAT') {
      // Answered before any request: hostd would refuse it too (PortMapping is NAT's, as in HNS).
      const where = conf.networkType === 'Overlay' ? 'its containers are in a virtual network, reached through it or a load balancer' : 'its containers are on the physical network with their own addresses';
      throw new CniError(CNI_CODES.UNSUPPORTED_FIELD, `portMappings are not supported in mode ${mode}: ${where}; port mappings are a nat network's`);
    }
    if (rc.bandwidth !== undefined) conf.bandwidth = parseBandwidth(rc.bandwidth);
    if (rc.ipRanges !== undefined) conf.ipRanges = parseIpRanges(rc.ipRanges);
    if (rc.dns !== undefined) conf.runtimeDns = parseDns(rc.dns, 'runtimeConfig.dns');
    if (rc.ips !== undefined) {
      if (!Array.isArray(rc.ips)) throw bad('runtimeConfig.ips is not a list');
      conf.ips = rc.ips.map((ip, i) => checkIPv4(String(ip).split('/')[0], `runtimeConfig.ips[${i}]`));
    }
  }
  if (command === 'GC') {
    const va = raw['cni.dev/valid-attachments'] ?? [];
    if (!Array.isArray(va)) throw bad('cni.dev/valid-attachments is not a list');
    conf.validAttachments = va.map((a, i) => {
      if (!isObj(a) || typeof a.containerID !== 'string' || typeof a.ifname !== 'string') throw bad(`cni.dev/valid-attachments[${i}] needs containerID and ifname`);
      return { containerID: a.containerID, ifname: a.ifname };
    });
  }
  return conf;
}

/**
 * The previous plugin's result: only its shape is checked (its values are handed back in our result
 * and compared by CHECK, never placed in a request), so that a malformed one is a config error and
 * not a crash after hostd has made the endpoint.
 */
function parsePrevResult(v: unknown): CniResult {
  if (!isObj(v)) throw bad('prevResult is not an object');
  const str = (o: Json, k: string, where: string, required = false) => {
    if (o[k] === undefined && !required) return;
    if (typeof o[k] !== 'string') throw bad(`${where}.${k} must be a string`);
  };
  const list = (k: string, each: (o: Json, where: string) => void) => {
    const l = v[k];
    if (l === undefined) return;
    if (!Array.isArray(l) || l.length > 64 || !l.every(isObj)) throw bad(`prevResult.${k} must be a list of at most 64 objects`);
    l.forEach((o, i) => each(o as Json, `prevResult.${k}[${i}]`));
  };
  const int = (o: Json, k: string, where: string) => {
    if (o[k] !== undefined && !Number.isInteger(o[k])) throw bad(`${where}.${k} must be an integer`);
  };
  list('interfaces', (o, w) => {
    str(o, 'name', w, true);
    str(o, 'mac', w);
    str(o, 'sandbox', w);
    int(o, 'mtu', w);
  });
  list('ips', (o, w) => {
    str(o, 'address', w, true);
    str(o, 'gateway', w);
    str(o, 'version', w);
    int(o, 'interface', w);
  });
  list('routes', (o, w) => {
    str(o, 'dst', w, true);
    str(o, 'gw', w);
  });
  if (v.dns !== undefined) {
    if (!isObj(v.dns)) throw bad('prevResult.dns must be an object');
    const d = v.dns;
    for (const k of ['nameservers', 'search', 'options']) {
      if (d[k] !== undefined && (!Array.isArray(d[k]) || !(d[k] as unknown[]).every((x) => typeof x === 'string'))) throw bad(`prevResult.dns.${k} must be a list of strings`);
    }
    str(d, 'domain', 'prevResult.dns');
  }
  return v as CniResult;
}

/** Raw HCN policies, spelled as the Windows CNI plugins take them: AdditionalArgs [{Name, Value}]. */
function parseAdditionalArgs(v: unknown, conf: NetConf): void {
  if (v === undefined) return;
  if (!Array.isArray(v)) throw bad('AdditionalArgs is not a list');
  v.forEach((a, i) => {
    if (!isObj(a) || !isObj(a.Value) || typeof a.Value.Type !== 'string' || !a.Value.Type) {
      throw bad(`AdditionalArgs[${i}] must be {"Name": "EndpointPolicy"|"NetworkPolicy", "Value": {"Type": ..., "Settings": {...}}}`);
    }
    const policy: HcnPolicy = { Type: a.Value.Type, ...(a.Value.Settings !== undefined ? { Settings: a.Value.Settings } : {}) };
    if (a.Name === 'EndpointPolicy') conf.endpointPolicies.push(policy);
    else if (a.Name === 'NetworkPolicy') conf.networkPolicies.push(policy);
    else throw bad(`AdditionalArgs[${i}].Name ${JSON.stringify(a.Name)} is not EndpointPolicy or NetworkPolicy`);
  });
}

function parsePortMappings(v: unknown): PortMappingRequest[] {
  if (!Array.isArray(v)) throw bad('runtimeConfig.portMappings is not a list');
  return v.map((m, i) => {
    const where = `runtimeConfig.portMappings[${i}]`;
    if (!isObj(m)) throw bad(`${where} is not an object`);
    const protocol = String(m.protocol ?? 'tcp').toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') throw bad(`${where}.protocol ${JSON.stringify(m.protocol)} is not tcp, udp or sctp`);
    const out: PortMappingRequest = {
      hostPort: checkInt(m.hostPort, `${where}.hostPort`, 0, 65535),
      containerPort: checkInt(m.containerPort, `${where}.containerPort`, 1, 65535),
      protocol,
    };
    if (m.hostIP !== undefined && m.hostIP !== '') {
      // An IPv6 host address has no IPv4 network to reach: skip it as portmap does on a v4-only container.
      if (typeof m.hostIP === 'string' && m.hostIP.includes(':')) return undefined;
      out.hostIP = checkIPv4(m.hostIP, `${where}.hostIP`);
      if (out.hostIP === '0.0.0.0') delete out.hostIP;
    }
    return out;
  }).filter((m): m is PortMappingRequest => m !== undefined);
}

function parseBandwidth(v: unknown): BandwidthRequest {
  if (!isObj(v)) throw bad('runtimeConfig.bandwidth is not an object');
  const out: BandwidthRequest = {};
  for (const k of ['ingressRate', 'ingressBurst', 'egressRate', 'egressBurst'] as const) {
    if (v[k] !== undefined) out[k] = checkInt(v[k], `runtimeConfig.bandwidth.${k}`, 0, Number.MAX_SAFE_INTEGER);
  }
  return out;
}

function parseIpRanges(v: unknown): IpRange[][] {
  if (!Array.isArray(v)) throw bad('runtimeConfig.ipRanges is not a list of range sets');
  return v.map((set, i) => {
    if (!Array.isArray(set)) throw bad(`runtimeConfig.ipRanges[${i}] is not a list`);
    return set.map((r, j) => {
      const where = `runtimeConfig.ipRanges[${i}][${j}]`;
      if (!isObj(r)) throw bad(`${where} is not an object`);
      const out: IpRange = { subnet: checkCidr(r.subnet, `${where}.subnet`) };
      if (r.rangeStart !== undefined) out.rangeStart = checkIPv4(r.rangeStart, `${where}.rangeStart`);
      if (r.rangeEnd !== undefined) out.rangeEnd = checkIPv4(r.rangeEnd, `${where}.rangeEnd`);
      if (r.gateway !== undefined) out.gateway = checkIPv4(r.gateway, `${where}.gateway`);
      return out;
    });
  });
}

function parseDns(v: unknown, where: string): DnsRequest {
  if (!isObj(v)) throw bad(`${where} is not an object`);
  // the runtime writes these into the container's resolv.conf: addresses, domains, options only
  const list = (k: string, max: number, item: RegExp, what: string): string[] => {
    const l = v[k] ?? [];
    if (!Array.isArray(l) || l.length > max || !l.every((s) => typeof s === 'string' && item.test(s))) {
      throw bad(`${where}.${k} must be a list of at most ${max} ${what}`);
    }
    return l as string[];
  };
  const out: DnsRequest = {
    nameservers: list('nameservers', 8, NAMESERVER_RE, 'IP addresses'),
    search: list('search', 6, DOMAIN_RE, 'domains'),
    options: list('options', 16, /^[A-Za-z0-9_:.-]{1,64}$/, 'resolver options'),
  };
  if (v.domain !== undefined && v.domain !== '') {
    if (typeof v.domain !== 'string' || !DOMAIN_RE.test(v.domain)) throw bad(`${where}.domain is not a domain name`);
    out.domain = v.domain;
  }
  return out;
}

function checkInt(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(`${what} must be an integer from ${min} to ${max} (got ${JSON.stringify(v)})`);
  return v;
}

export function checkIPv4(v: unknown, what: string): string {
  const m = typeof v === 'string' ? /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(v) : null;
  if (!m || m.slice(1).some((o) => Number(o) > 255 || (o.length > 1 && o.startsWith('0')))) throw bad(`${what} ${JSON.stringify(v)} is not an IPv4 address`);
  return v as string;
}

function checkCidr(v: unknown, what: string): string {
  const [ip, prefix, more] = typeof v === 'string' ? v.split('/') : [];
  if (more !== undefined || prefix === undefined || !/^\d{1,2}$/.test(prefix) || Number(prefix) > 32) throw bad(`${what} ${JSON.stringify(v)} is not an IPv4 prefix such as 10.88.0.0/16`);
  checkIPv4(ip, what);
  return v as string;
}
