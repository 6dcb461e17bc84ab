/**
 * Do hostd's stored state and the kernel agree? Derives, from the host API's listing alone (not from
 * the planner), every kernel object Switchyard must have made — links and addresses in hostd's
 * namespace, interfaces, addresses, routes and qdiscs inside endpoint namespaces, the elements and
 * chains of the `inet`, `bridge` and `netdev` switchyard tables, resolv.conf files; for the uplink
 * modes (a network with an Uplink) its sy-sw bridge with the adapter's MAC and the adapter as its port — and compares it with what
 * the kernel holds, both ways: nothing missing, and nothing extra that carries Switchyard's mark (or
 * the test run's prefix). Also compares the listing with the files in the state directory.
 * Returns the differences, one line each; an empty list means they agree.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../src/dataplane/run.js';
import type { HostClient } from '../../src/cli/client.js';

interface NetDoc {
  ID: string;
  Name: string;
  Bridge: string;
  Ipams: { Subnets: { IpAddressPrefix: string; Routes: { NextHop: string }[] }[] }[];
  Dns: { ServerList?: string[]; Search?: string[]; Domain?: string };
  Type: string;
  Policies?: Policy[];
  Internal?: boolean;
  /** the uplink modes' host adapter */
  Uplink?: { Adapter: string; MacAddress: string };
}
interface Policy {
  Type: string;
  Settings: Record<string, unknown>;
}
interface EpDoc {
  ID: string;
  Name: string;
  HostComputeNetwork: string;
  HostComputeNamespace?: string;
  NamespacePath?: string;
  IpConfigurations: { IpAddress: string; PrefixLength: number }[];
  MacAddress: string;
  InterfaceName: string;
  HostIfName: string;
  Policies: Policy[];
  Routes: { NextHop?: string; DestinationPrefix: string; Metric?: number }[];
  Dns: { ServerList?: string[]; Search?: string[]; Domain?: string };
  Mtu?: number;
}
interface NsDoc {
  ID: string;
  Path: string;
  Owned: boolean;
  Resources: { Data: { Id: string } }[];
}
export interface Listing {
  networks: NetDoc[];
  endpoints: EpDoc[];
  namespaces: NsDoc[];
}

interface IpLink {
  ifname: string;
  master?: string;
  flags?: string[];
  address?: string;
  mtu?: number;
  linkinfo?: { info_kind?: string; info_slave_data?: { isolated?: boolean } };
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
}

const PROTO: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };
const ACTIONS = ['Block', 'Pass', 'Allow'];
const VERDICTS: Record<string, string> = { Allow: 'accept', Block: 'drop', Pass: 'return' };
const BASE_CHAINS = ['portmaps', 'nat-prerouting', 'nat-output', 'nat-postrouting', 'acl-out', 'acl-in', 'forward', 'from-net', 'host-in'];
/** The uplink modes that rewrite MACs: the rule count of their chains sw-*-in (bridge table) and up-* (netdev table). */
const REWRITES: Record<string, number> = { L2Bridge: 2, L2Tunnel: 3 };
const short = (id: string) => id.replace(/-/g, '').slice(0, 8);
const macOf = (doc: string) => doc.toLowerCase().replace(/-/g, ':');

export async function listing(client: HostClient): Promise<Listing> {
  const [networks, endpoints, namespaces] = await Promise.all([
    client.request<NetDoc[]>('GET', '/networks'),
    client.request<EpDoc[]>('GET', '/endpoints'),
    client.request<NsDoc[]>('GET', '/namespaces'),
  ]);
  return { networks, endpoints, namespaces };
}

/**
 * `hostNs`: hostd's namespace (a /run/netns name); `stateDir`: its state directory; `prefix`: the test
 * run's prefix, for namespaces and /etc/netns entries; `testNamespaces`: the namespaces the test made
 * itself (every other prefixed namespace must be one hostd owns).
 */
export async function disagreements(l: Listing, o: { hostNs: string; stateDir: string; prefix: string; testNamespaces: string[] }): Promise<string[]> {
  const out: string[] = [];
  const nets = new Map(l.networks.map((n) => [n.ID, n]));
  const subnetOf = (n: NetDoc) => n.Ipams[0]!.Subnets[0]!;
  const gatewayOf = (n: NetDoc) => subnetOf(n).Routes[0]!.NextHop;
  const attached = l.endpoints.filter((e) => e.NamespacePath);

  // ---- the state directory holds exactly the listed objects ----
  for (const [kind, ids] of [
    ['networks', l.networks.map((n) => n.ID)],
    ['endpoints', l.endpoints.map((e) => e.ID)],
    ['namespaces', l.namespaces.map((n) => n.ID)],
  ] as const) {
    const files = readdirSync(join(o.stateDir, kind));
    for (const f of files) if (!f.endsWith('.json')) out.push(`state: stray file ${kind}/${f}`);
    compareSets(`state ${kind}`, new Set(ids), new Set(files.filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5))), out);
  }

  // ---- links in hostd's namespace ----
  const hostLinks = new Map(((await ipJson(['-d', 'addr', 'show'], `/run/netns/${o.hostNs}`)) as IpLink[]).filter((x) => x.ifname.startsWith('sy-')).map((x) => [x.ifname, x]));
  const wantLinks = new Set([...l.networks.map((n) => n.Bridge), ...attached.map((e) => e.HostIfName)]);
  compareSets('host links', wantLinks, new Set(hostLinks.keys()), out);
  // An uplink network's switch has the adapter's MAC and the adapter as its port, which holds no
  // address of its own (the host's moved onto the switch); no other link is a port of a switch.
  const allLinks = (await ipJson(['-d', 'addr', 'show'], `/run/netns/${o.hostNs}`)) as IpLink[];
  const adapters = new Map(l.networks.filter((n) => n.Uplink).map((n) => [n.Uplink!.Adapter, n]));
  for (const k of allLinks.filter((x) => !x.ifname.startsWith('sy-'))) {
    const n = adapters.get(k.ifname);
    if (!n) {
      if (k.master?.startsWith('sy-')) out.push(`link ${k.ifname}: a port of ${k.master} but no network's adapter`);
      continue;
    }
    if (k.master !== n.Bridge) out.push(`adapter ${k.ifname}: master ${k.master}, want ${n.Bridge}`);
    if (!k.flags?.includes('UP')) out.push(`adapter ${k.ifname}: down`);
    same(`adapter ${k.ifname} addresses (they live on ${n.Bridge})`, [], movable(k), out);
  }
  for (const [a, n] of adapters) if (!allLinks.some((x) => x.ifname === a)) out.push(`adapter ${a} of network ${n.Name} does not exist`);
  for (const n of l.networks) {
    const k = hostLinks.get(n.Bridge);
    if (!k) continue;
    if (n.Uplink) {
      if (k.linkinfo?.info_kind !== 'bridge') out.push(`link ${n.Bridge}: kind ${k.linkinfo?.info_kind}, want bridge`);
      if (!k.flags?.includes('UP')) out.push(`link ${n.Bridge}: down`);
      if (k.address !== macOf(n.Uplink.MacAddress)) out.push(`link ${n.Bridge}: MAC ${k.address}, want the adapter's ${macOf(n.Uplink.MacAddress)}`);
      continue;
    }
    const want = `${gatewayOf(n)}/${subnetOf(n).IpAddressPrefix.split('/')[1]}`;
    if (k.linkinfo?.info_kind !== 'bridge') out.push(`link ${n.Bridge}: kind ${k.linkinfo?.info_kind}, want bridge`);
    if (!k.flags?.includes('UP')) out.push(`link ${n.Bridge}: down`);
    same(`link ${n.Bridge} addresses`, [want], v4(k), out);
  }
  for (const e of attached) {
    const k = hostLinks.get(e.HostIfName);
    if (!k) continue;
    const bridge = nets.get(e.HostComputeNetwork)?.Bridge;
    if (k.master !== bridge) out.push(`link ${e.HostIfName}: master ${k.master}, want ${bridge}`);
    const isolated = nets.get(e.HostComputeNetwork)?.Type === 'L2Tunnel';
    if (!!k.linkinfo?.info_slave_data?.isolated !== isolated) out.push(`link ${e.HostIfName}: isolated ${!!k.linkinfo?.info_slave_data?.isolated}, want ${isolated}`);
    if (!k.flags?.includes('UP')) out.push(`link ${e.HostIfName}: down`);
    if (k.mtu !== (e.Mtu ?? 1500)) out.push(`link ${e.HostIfName}: MTU ${k.mtu}, want ${e.Mtu ?? 1500}`);
    same(`link ${e.HostIfName} addresses`, [], v4(k), out);
    await checkQdisc(`${e.HostIfName} (host side)`, e.HostIfName, `/run/netns/${o.hostNs}`, qos(e, 'MaximumIncomingBandwidthInBytes'), out);
  }

  // ---- namespaces: hostd's exist; no prefixed namespace is unaccounted for ----
  const listedPaths = new Set(l.namespaces.map((n) => n.Path));
  for (const n of l.namespaces) if (!existsSync(n.Path)) out.push(`namespace ${n.Path} is listed but does not exist`);
  const prefixed = existsSync('/run/netns') ? readdirSync('/run/netns').filter((x) => x.startsWith(`${o.prefix}-`)) : [];
  for (const x of prefixed) {
    if (!listedPaths.has(`/run/netns/${x}`) && !o.testNamespaces.includes(x)) out.push(`extra namespace ${x}`);
  }
  for (const n of l.namespaces) {
    if (o.testNamespaces.includes(n.Path.replace('/run/netns/', '')) && n.Owned) out.push(`namespace ${n.Path} made by the test is marked Owned`);
  }

  // ---- inside each namespace hostd knows: its endpoints' interfaces, addresses, routes, qdiscs ----
  for (const n of l.namespaces) {
    if (!existsSync(n.Path)) continue;
    const eps = attached.filter((e) => e.NamespacePath === n.Path);
    const links = new Map(((await ipJson(['-d', 'addr', 'show'], n.Path)) as IpLink[]).filter((x) => x.ifname !== 'lo').map((x) => [x.ifname, x]));
    compareSets(`interfaces in ${n.Path}`, new Set(eps.map((e) => e.InterfaceName)), new Set(links.keys()), out);
    const routes = (await ipJson(['-4', 'route', 'show'], n.Path)) as { dst: string; gateway?: string; dev: string; protocol?: string; metric?: number }[];
    const wantRoutes = new Set<string>();
    for (const e of eps) {
      const k = links.get(e.InterfaceName);
      const ip = e.IpConfigurations[0]!;
      if (k) {
        if (k.address !== macOf(e.MacAddress)) out.push(`${e.InterfaceName} in ${n.Path}: MAC ${k.address}, want ${macOf(e.MacAddress)}`);
        if (!k.flags?.includes('UP')) out.push(`${e.InterfaceName} in ${n.Path}: down`);
        if (k.mtu !== (e.Mtu ?? 1500)) out.push(`${e.InterfaceName} in ${n.Path}: MTU ${k.mtu}, want ${e.Mtu ?? 1500}`);
        same(`${e.InterfaceName} in ${n.Path} addresses`, [`${ip.IpAddress}/${ip.PrefixLength}`], v4(k), out);
      }
      const net = nets.get(e.HostComputeNetwork);
      if (net) wantRoutes.add(`${subnetOf(net).IpAddressPrefix} dev ${e.InterfaceName} kernel`);
      for (const r of e.Routes.slice(1)) wantRoutes.add(`${r.DestinationPrefix}${r.NextHop ? ` via ${r.NextHop}` : ''} dev ${e.InterfaceName}${r.Metric ? ` metric ${r.Metric}` : ''}`);
      await checkQdisc(`${e.InterfaceName} in ${n.Path}`, e.InterfaceName, n.Path, qos(e, 'MaximumOutgoingBandwidthInBytes'), out);
    }
    // One default route, through the gateway of one of the namespace's endpoints (the first keeps it).
    const defaults = routes.filter((r) => r.dst === 'default');
    const gateways = eps.map((e) => `${e.Routes[0]?.NextHop ?? gatewayOf(nets.get(e.HostComputeNetwork)!)} dev ${e.InterfaceName}`);
    if (eps.length && (defaults.length !== 1 || !gateways.includes(`${defaults[0]!.gateway} dev ${defaults[0]!.dev}`))) {
      out.push(`default route in ${n.Path}: ${JSON.stringify(defaults)}, want one of ${gateways.join(', ')}`);
    }
    if (!eps.length && defaults.length) out.push(`default route in ${n.Path} without an endpoint`);
    const have = routes.filter((r) => r.dst !== 'default').map((r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${r.dev}${r.protocol === 'kernel' ? ' kernel' : ''}${r.metric ? ` metric ${r.metric}` : ''}`);
    compareSets(`routes in ${n.Path}`, wantRoutes, new Set(have), out);
    // resolv.conf: written for the first endpoint with DNS settings, removed otherwise.
    const m = /^\/run\/netns\/(.+)$/.exec(n.Path);
    if (m) {
      const file = `/etc/netns/${m[1]}/resolv.conf`;
      const dns = eps.find((e) => e.Dns.ServerList?.length || e.Dns.Search?.length || e.Dns.Domain)?.Dns;
      const content = existsSync(file) ? readFileSync(file, 'utf8') : null;
      const ours = content?.startsWith('# written by switchyard') ?? false;
      if (dns && (!ours || !(dns.ServerList ?? []).every((s) => content!.includes(`nameserver ${s}`)))) out.push(`${file}: ${JSON.stringify(content)}, want the servers ${dns.ServerList}`);
      if (!dns && ours) out.push(`${file}: left although no endpoint there has DNS settings`);
    }
  }
  // A resolv.conf of Switchyard's in a namespace hostd does not know: left from an endpoint.
  if (existsSync('/etc/netns')) {
    for (const d of readdirSync('/etc/netns').filter((x) => x.startsWith(`${o.prefix}-`))) {
      if (listedPaths.has(`/run/netns/${d}`)) continue;
      const f = `/etc/netns/${d}/resolv.conf`;
      if (existsSync(f) && readFileSync(f, 'utf8').startsWith('# written by switchyard')) out.push(`extra ${f}`);
      else if (!o.testNamespaces.includes(d)) out.push(`extra directory /etc/netns/${d}`);
    }
  }

  // ---- the inet table: map and set elements, chains ----
  const inet = await nftTable(o.hostNs, 'inet');
  const bridgeT = await nftTable(o.hostNs, 'bridge');
  const netdevT = await nftTable(o.hostNs, 'netdev');
  const rewriting = l.networks.filter((n) => n.Uplink && REWRITES[n.Type]);
  if (!rewriting.length && netdevT?.rules.size) out.push(`table netdev switchyard has chains without an L2Bridge or L2Tunnel network: ${[...netdevT.rules.keys()]}`);
  if (rewriting.length) {
    if (!netdevT) out.push('table netdev switchyard is missing');
    // an adapter's egress: the Ethernet source and the ARP sender, and L2Tunnel's TUNNEL_MAC back
    else compareTable('netdev', new Map(), new Map(rewriting.map((n) => [`up-${short(n.ID)}`, REWRITES[n.Type]!])), netdevT, out);
  }
  if (!l.networks.length) {
    if (inet) out.push('table inet switchyard exists without networks');
    if (bridgeT) out.push('table bridge switchyard exists without networks');
    return out;
  }
  if (!inet || !bridgeT) {
    out.push(`table ${!inet ? 'inet' : 'bridge'} switchyard is missing`);
    return out;
  }
  // The rules' boxes are not derived here (that is the planner's work, checked against the rules
  // packet by packet in the unit tests and by trace in the kernel's): every element of acl_out and
  // acl_in must belong to an endpoint that has ACLs, so none outlives its endpoint or its rules.
  const aclIps = new Set(l.endpoints.filter((e) => e.Policies.some((p) => p.Type === 'ACL')).map((e) => e.IpConfigurations[0]!.IpAddress));
  for (const name of ['acl_out', 'acl_in']) {
    for (const k of inet.sets.get(name)?.keys() ?? []) if (!aclIps.has(k.split(' . ')[0]!)) out.push(`inet ${name}: extra element ${k}`);
    inet.sets.delete(name);
  }
  const want = new Map<string, Map<string, string>>();
  const put = (set: string, key: string, value = '') => {
    if (!want.has(set)) want.set(set, new Map());
    want.get(set)!.set(key, value);
  };
  const chains = new Map<string, number | undefined>(BASE_CHAINS.map((c) => [c, undefined]));
  for (const n of l.networks.filter((x) => !x.Uplink)) {
    put('nat_subnets', subnetOf(n).IpAddressPrefix);
    put('fwd_into_net', n.Bridge, `jump net-${short(n.ID)}-in`);
    put('post_into_net', n.Bridge, `jump net-${short(n.ID)}-post`);
    put('net_gateway', `${n.Bridge} . ${gatewayOf(n)}`);
    chains.set(`net-${short(n.ID)}-in`, 5);
    chains.set(`net-${short(n.ID)}-post`, 2);
    const underived = [...(n.Policies ?? []).map((p) => p.Type).filter((t) => t !== 'NetAdapterName'), ...(n.Internal ? ['Internal'] : []), ...((n.Dns.ServerList ?? []).includes(gatewayOf(n)) ? ['DNS on the gateway'] : [])];
    if (underived.length) out.push(`checker: network ${n.Name} has ${underived.join(', ')}, which this checker does not derive`);
  }
  for (const e of l.endpoints) {
    const ip = e.IpConfigurations[0]!.IpAddress;
    for (const p of e.Policies.filter((x) => x.Type === 'PortMapping')) {
      const s = p.Settings as { Protocol: number; InternalPort: number; ExternalPort: number; VIP?: string; PortCount?: number };
      for (let i = 0; i < (s.PortCount ?? 1); i++) {
        if (s.VIP) put('pm_addr', `${PROTO[s.Protocol]} . ${s.VIP} . ${s.ExternalPort + i}`, `${ip} . ${s.InternalPort + i}`);
        else put('pm_any', `${PROTO[s.Protocol]} . ${s.ExternalPort + i}`, `${ip} . ${s.InternalPort + i}`);
      }
    }
    const acls = e.Policies.filter((x) => x.Type === 'ACL');
    if (acls.length) {
      put('acl_eps', ip);
      // What no rule decides: dropped, unless a rule that matches everything (no Protocols, or
      // 256, no addresses, no ports) decides it; the first of those by Priority (Block, Pass,
      // Allow on a tie) gives its verdict.
      for (const dir of ['Out', 'In']) {
        const s = (a: Policy) => a.Settings as Record<string, string | number | undefined>;
        const all = acls
          .filter((a) => s(a).Direction === dir && [undefined, '', '256', 256].includes(s(a).Protocols) && ['LocalAddresses', 'RemoteAddresses', 'LocalPorts', 'RemotePorts'].every((f) => !s(a)[f]))
          .sort((a, b) => Number(s(a).Priority ?? 0) - Number(s(b).Priority ?? 0) || ACTIONS.indexOf(String(s(a).Action)) - ACTIONS.indexOf(String(s(b).Action)));
        put(`acl_${dir.toLowerCase()}_default`, ip, all.length ? VERDICTS[String(all[0]!.Settings.Action)]! : 'drop');
      }
    }
    if (e.Policies.some((x) => x.Type === 'OutBoundNAT')) out.push(`checker: endpoint ${e.Name} has an OutBoundNAT policy, which this checker does not derive`);
  }
  compareTable('inet', want, chains, inet, out);

  // ---- the bridge table: what each attached endpoint's veth may send ----
  const wantB = new Map<string, Map<string, string>>();
  const putB = (set: string, key: string) => {
    if (!wantB.has(set)) wantB.set(set, new Map());
    wantB.get(set)!.set(key, '');
  };
  for (const e of attached) {
    const ip = e.IpConfigurations[0]!.IpAddress;
    const mac = macOf(e.MacAddress);
    putB('ep_ok', `${e.HostIfName} . ${mac} . ${ip}`);
    putB('ep_src', `${e.HostIfName} . ${ip}`);
    putB('ep_mac', `${e.HostIfName} . ${mac}`);
  }
  // L2Bridge and L2Tunnel: what comes in by the adapter for an endpoint's address gets its MAC back
  const wantBChains = new Map<string, number | undefined>([['spoof', 6]]);
  for (const n of rewriting) wantBChains.set(`sw-${short(n.ID)}-in`, REWRITES[n.Type]);
  const byId = new Map(l.networks.map((n) => [n.ID, n]));
  for (const e of attached) {
    const n = byId.get(e.HostComputeNetwork);
    if (!n?.Uplink || !REWRITES[n.Type]) continue;
    if (!wantB.has('ep_by_ip')) wantB.set('ep_by_ip', new Map());
    wantB.get('ep_by_ip')!.set(`${n.Uplink.Adapter} . ${e.IpConfigurations[0]!.IpAddress}`, macOf(e.MacAddress));
  }
  compareTable('bridge', wantB, wantBChains, bridgeT, out);
  return out;
}

function qos(e: EpDoc, field: string): number | undefined {
  const p = e.Policies.find((x) => x.Type === 'QOS');
  return p ? (p.Settings[field] as number | undefined) : undefined;
}

async function checkQdisc(what: string, dev: string, netns: string, bytes: number | undefined, out: string[]): Promise<void> {
  const res = await run(['tc', '-j', 'qdisc', 'show', 'dev', dev], { netns, okExitCodes: [1, 2] });
  if (res.exitCode !== 0) return; // the link itself is reported missing
  const root = (JSON.parse(res.stdout || '[]') as { kind: string; root?: boolean; options?: { rate?: number } }[]).find((q) => q.root);
  if (bytes && (root?.kind !== 'tbf' || root.options?.rate !== bytes)) out.push(`qdisc of ${what}: ${root?.kind} ${root?.options?.rate}, want tbf at ${bytes} bytes/s`);
  if (!bytes && root?.kind === 'tbf') out.push(`qdisc of ${what}: tbf left without a QOS policy`);
}

async function ipJson(args: string[], netns: string): Promise<unknown[]> {
  return JSON.parse((await run(['ip', '-j', ...args], { netns })).stdout || '[]') as unknown[];
}

/** The addresses that move between an adapter and its switch: IPv4, and IPv6 but link-local. */
function movable(k: IpLink): string[] {
  return (k.addr_info ?? []).filter((a) => a.family === 'inet' || a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`);
}

function v4(k: IpLink): string[] {
  return (k.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
}

function same(what: string, want: string[], have: string[], out: string[]): void {
  if (JSON.stringify([...want].sort()) !== JSON.stringify([...have].sort())) out.push(`${what}: ${JSON.stringify(have)}, want ${JSON.stringify(want)}`);
}

function compareSets(what: string, want: Set<string>, have: Set<string>, out: string[]): void {
  for (const x of want) if (!have.has(x)) out.push(`${what}: missing ${x}`);
  for (const x of have) if (!want.has(x)) out.push(`${what}: extra ${x}`);
}

interface KernelTable {
  sets: Map<string, Map<string, string>>;
  rules: Map<string, number>;
}

function compareTable(family: string, want: Map<string, Map<string, string>>, chains: Map<string, number | undefined>, have: KernelTable, out: string[]): void {
  for (const name of new Set([...want.keys(), ...have.sets.keys()])) {
    const w = want.get(name) ?? new Map<string, string>();
    const h = have.sets.get(name);
    if (!h) {
      out.push(`${family} set ${name}: missing`);
      continue;
    }
    for (const [k, v] of w) {
      if (!h.has(k)) out.push(`${family} ${name}: missing element ${k}${v ? ` : ${v}` : ''}`);
      else if (h.get(k) !== v) out.push(`${family} ${name}: element ${k} is ${h.get(k)}, want ${v}`);
    }
    for (const k of h.keys()) if (!w.has(k)) out.push(`${family} ${name}: extra element ${k}`);
  }
  compareSets(`${family} chains`, new Set(chains.keys()), new Set(have.rules.keys()), out);
  for (const [c, n] of chains) {
    if (n !== undefined && have.rules.has(c) && have.rules.get(c) !== n) out.push(`${family} chain ${c}: ${have.rules.get(c)} rules, want ${n}`);
  }
}

/** The table as the kernel has it: set name → element key → value, chain name → rule count. */
async function nftTable(hostNs: string, family: string): Promise<KernelTable | null> {
  const res = await run(['nft', '-j', 'list', 'table', family, 'switchyard'], { netns: `/run/netns/${hostNs}`, okExitCodes: [1] });
  if (res.exitCode !== 0) return null;
  const items = (JSON.parse(res.stdout) as { nftables: Record<string, Record<string, unknown>>[] }).nftables;
  const t: KernelTable = { sets: new Map(), rules: new Map() };
  for (const item of items) {
    const s = item.set ?? item.map;
    if (s) {
      const els = new Map<string, string>();
      for (const e of (s.elem as unknown[]) ?? []) {
        if (Array.isArray(e)) els.set(text(e[0]), text(e[1]));
        else els.set(text(e), '');
      }
      t.sets.set(s.name as string, els);
    }
    if (item.chain) t.rules.set(item.chain.name as string, 0);
    if (item.rule) t.rules.set(item.rule.chain as string, (t.rules.get(item.rule.chain as string) ?? 0) + 1);
  }
  return t;
}

/** An element's key or value from nft's JSON, in nft's own syntax ("tcp . 8080", "10.0.0.0/24"). */
function text(v: unknown): string {
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  const o = v as Record<string, unknown>;
  if (o.elem) return text((o.elem as { val: unknown }).val);
  if (o.concat) return (o.concat as unknown[]).map(text).join(' . ');
  if (o.prefix) {
    const p = o.prefix as { addr: string; len: number };
    return `${p.addr}/${p.len}`;
  }
  if (o.range) return (o.range as unknown[]).map(text).join('-');
  if (o.jump) return `jump ${(o.jump as { target: string }).target}`;
  if (o.goto) return `goto ${(o.goto as { target: string }).target}`;
  for (const verdict of ['accept', 'drop', 'return', 'continue']) if (verdict in o) return verdict;
  return JSON.stringify(v);
}
