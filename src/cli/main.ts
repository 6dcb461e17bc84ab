#!/usr/bin/env node
/**
 * The `switchyard` command line: the host admin's tool. It talks HCN v2 JSON to hostd over its unix
 * socket and prints tables (or the documents with `-o json`). `switchyard hostd` starts the service.
 * Exit codes: 0 done, 1 refused or failed (the message says why), 2 wrong usage, 3 hostd unreachable.
 */
import { parseArgs } from 'node:util';
import { readFile } from 'node:fs/promises';
import { ApiError, HostClient, type TcpTarget } from './client.js';
import { parsePublish } from './publish.js';
import { parsePolicyJson, policyRow, qosPolicy } from './policy.js';
import { traceRequest, traceText } from './trace.js';
import { formatTable } from './table.js';
import { hostAccessPolicies } from '../model/host-access.js';

const USAGE = `Usage: switchyard [--socket PATH | --host http://IP:PORT [--token-file FILE]] [-o table|json] COMMAND

Commands:
  hostd [--state-dir DIR] [--socket PATH] [--socket-group GROUP] [--listen IP:PORT --token-file FILE]
        [--docker [--docker-plugin-dir DIR]]      run the host network service (--docker: also Docker's nat and switchyard plugins;
                                                  switchyard hostd --help for every flag)
  install-cni [DIR]                               install the CNI plugin as DIR/switchyard (default /opt/cni/bin)
  network create --type nat|transparent|l2bridge|l2tunnel|overlay [--adapter IFNAME | --upstream BRIDGE] [--subnet CIDR]... [--gateway IP] [--dns-server IP]... [--dns-search DOMAIN]... [--mtu N]
                 [--vsid N --provider-address IP [--vxlan-port N] [--dr-mac MAC]]   (overlay: VNI = VSID, every --subnet in it)
                 [--internal] [--host-access PORT[-END][/tcp|udp|sctp],...]... [--policy JSON]... NAME
                  (endpoints open nothing new on the host but the ports --host-access names;
                   DNS to the gateway is open when --dns-server is the gateway)
                 [--dhcp]  (transparent: endpoints lease their addresses from a DHCP server on the
                   adapter's network; --subnet then names that network's prefix if the adapter has none)
  network ls | inspect NAME... | rm NAME...
  endpoint create --network NET [--ip IP] [--mac MAC] [--namespace NAME|PATH]
                  [--publish [HOSTIP:]HOSTPORT[-END]:PORT[-END][/PROTO]]...
                  [--max-egress RATE] [--max-ingress RATE] [--policy JSON]... NAME
                  (without --namespace, a namespace named NAME is made under /run/netns;
                   RATE as tc writes it: 800kbit, 50mbit, 1gbit; JSON: an HCN policy document)
  endpoint create --remote --network NET --ip IP --mac MAC --provider-address PA NAME
                  (an overlay network's endpoint on the host at PA: reached through VXLAN)
  endpoint ls [--network NET] | inspect NAME... | rm NAME...
  endpoint attach NAME --namespace NS | detach NAME
  network policy ls NAME | add NAME JSON... | rm NAME JSON... | set NAME JSON...
                  (NetworkACL rules, which every endpoint of the network meets with its own, and HostAccess)
  endpoint policy ls NAME | add NAME JSON... | rm NAME JSON... | set NAME JSON...
                  (set replaces every policy of the Types given: HCN's Update)
  namespace create [NAME|PATH] | ls | inspect NS... | rm NS...
  trace ENDPOINT --in|--out [--proto tcp|udp|icmp|N] --remote IP [--remote-port N] [--port N]
                  [--host-port N] [--probe]     what happens to a new flow's packet, and why
  status
  controller [--listen IP:PORT] [--store SPEC] [--tls-cert F --tls-key F] | controller token create|ls|revoke
                                                  run the Network Controller (switchyard controller --help)
  nc get|put|delete PATH [-f FILE] [--controller URL] [--token-file F]
                                                  the controller's northbound API (switchyard nc --help)

The socket is --socket PATH, else $SWITCHYARD_SOCKET, else /run/switchyard/hns.sock. With --host, the
CLI talks to hostd's TCP listener instead, sending the token of --token-file FILE or $SWITCHYARD_TOKEN.`;

class UsageError extends Error {}

/** Runs an argument parser; what it throws is the user's usage error (exit code 2). */
function usage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

type Doc = Record<string, unknown> & { ID: string };
interface Globals {
  socket?: string;
  host?: string;
  tokenFile?: string;
  output?: string;
  help: boolean;
  words: string[];
}

/** Takes the global options (--socket, --host, --token-file, -o/--output, -h) out of argv, wherever they stand. */
function splitGlobals(argv: string[]): Globals {
  const out: Globals = { help: false, words: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^(--socket|--host|--token-file|--output|-o)(?:=(.*))?$/.exec(a);
    if (m) {
      const v = m[2] ?? argv[++i];
      if (v === undefined) throw new UsageError(`${m[1]} needs a value`);
      if (m[1] === '--socket') out.socket = v;
      else if (m[1] === '--host') out.host = v;
      else if (m[1] === '--token-file') out.tokenFile = v;
      else out.output = v;
    } else if (a === '-h' || a === '--help') out.help = true;
    else out.words.push(a);
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'controller') return (await import('../controller/main.js')).controllerMain(argv.slice(1));
  if (argv[0] === 'nc') return (await import('./nc.js')).ncMain(argv.slice(1));
  if (argv[0] === 'hostd') {
    const { hostdMain } = await import('../hostd/main.js');
    await hostdMain(argv.slice(1));
    return -1; // keeps running
  }
  if (argv[0] === 'install-cni') {
    const { installCni, INSTALL_CNI_USAGE } = await import('./install-cni.js');
    const args = argv.slice(1);
    if (args.includes('-h') || args.includes('--help')) {
      console.log(INSTALL_CNI_USAGE);
      return 0;
    }
    if (args.length > 1 || args[0]?.startsWith('-')) throw new UsageError(INSTALL_CNI_USAGE);
    const { path, runtime } = installCni(args[0] ?? '/opt/cni/bin');
    console.log(`installed ${path} (runs on ${runtime})`);
    return 0;
  }
  // Global options may stand before the command: take them out first.
  const g = splitGlobals(argv);
  const words = g.words;
  const [group, verb] = words;
  if (g.help || !group) {
    console.log(USAGE);
    return g.help ? 0 : 2;
  }
  const socket = g.socket ?? process.env.SWITCHYARD_SOCKET ?? '/run/switchyard/hns.sock';
  const json = g.output === 'json';
  if (g.output !== undefined && g.output !== 'json' && g.output !== 'table') throw new UsageError(`-o ${String(g.output)}: use table or json`);
  const client = new HostClient(socket, undefined, g.host !== undefined ? await tcpTarget(g.host, g.tokenFile) : undefined);
  try {
    const rest = words.slice(group === 'status' ? 1 : 2);
    switch (`${group} ${group === 'status' || group === 'trace' ? '' : (verb ?? '')}`.trim()) {
      case 'status':
        return await show(await client.request('GET', '/status'), json, statusText);
      case 'trace': {
        return await show(await client.request('POST', '/trace', usage(() => traceRequest(words.slice(1)))), json, traceText);
      }
      case 'network create':
        return await show(await networkCreate(client, rest), json, (d) => `${d.Name} ${d.ID}`);
      case 'network ls':
        return await showList(await client.request<Doc[]>('GET', '/networks'), json, networkRow);
      case 'network inspect':
        return await inspect(client, 'networks', needNames(rest, 'network inspect'));
      case 'network rm':
        return await remove(client, 'networks', needNames(rest, 'network rm'));
      case 'endpoint create':
        return await show(await endpointCreate(client, rest), json, (d) => `${d.Name} ${d.ID}`);
      case 'endpoint ls': {
        const { values } = parseArgs({ args: rest, options: { network: { type: 'string' } } });
        const q = values.network ? `?network=${encodeURIComponent(values.network)}` : '';
        const [eps, nets] = await Promise.all([client.request<Doc[]>('GET', `/endpoints${q}`), client.request<Doc[]>('GET', '/networks')]);
        const netNames = new Map(nets.map((n) => [n.ID, String(n.Name)]));
        return await showList(eps, json, (e) => endpointRow(e, netNames));
      }
      case 'endpoint inspect':
        return await inspect(client, 'endpoints', needNames(rest, 'endpoint inspect'));
      case 'endpoint rm':
        return await endpointRemove(client, needNames(rest, 'endpoint rm'));
      case 'endpoint attach': {
        const { values, positionals } = parseArgs({ args: rest, options: { namespace: { type: 'string' } }, allowPositionals: true });
        if (positionals.length !== 1 || !values.namespace) throw new UsageError('endpoint attach NAME --namespace NS');
        const ns = await client.request<Doc>('GET', `/namespaces/${encodeURIComponent(values.namespace)}`);
        return await show(await client.request('POST', `/endpoints/${encodeURIComponent(positionals[0]!)}/attach`, { NamespaceId: ns.ID }), json, () => 'attached');
      }
      case 'endpoint detach':
        return await show(await client.request('POST', `/endpoints/${encodeURIComponent(needNames(rest, 'endpoint detach')[0]!)}/detach`), json, () => 'detached');
      case 'endpoint policy':
        return await policyCommand(client, 'endpoint', rest, json);
      case 'network policy':
        return await policyCommand(client, 'network', rest, json);
      case 'namespace create': {
        const body = rest[0] ? { Path: rest[0] } : {};
        return await show(await client.request('POST', '/namespaces', body), json, (d) => `${d.Path} ${d.ID}`);
      }
      case 'namespace ls':
        return await showList(await client.request<Doc[]>('GET', '/namespaces'), json, namespaceRow);
      case 'namespace inspect':
        return await inspect(client, 'namespaces', needNames(rest, 'namespace inspect'));
      case 'namespace rm':
        return await remove(client, 'namespaces', needNames(rest, 'namespace rm'));
      default:
        throw new UsageError(`unknown command "${[group, verb].filter(Boolean).join(' ')}"`);
    }
  } finally {
    client.close();
  }
}

/** --host URL and its token (--token-file FILE, else $SWITCHYARD_TOKEN). */
async function tcpTarget(host: string, tokenFile: string | undefined): Promise<TcpTarget> {
  const url = usage(() => new URL(host));
  if (url.protocol !== 'http:' || url.pathname !== '/' || url.search) throw new UsageError(`--host ${host}: use http://IP:PORT`);
  const token = tokenFile !== undefined ? (await readFile(tokenFile, 'utf8')).replace(/\r?\n$/, '') : process.env.SWITCHYARD_TOKEN;
  if (!token) throw new UsageError('--host needs the token: --token-file FILE or SWITCHYARD_TOKEN');
  return { url, token };
}

function needNames(rest: string[], what: string): string[] {
  const names = rest.filter((r) => !r.startsWith('-'));
  if (!names.length) throw new UsageError(`${what}: name or ID required`);
  return names;
}

/** --type as users type it → the HCN network Type. */
const MODE_NAMES: Record<string, string> = { nat: 'NAT', transparent: 'Transparent', l2bridge: 'L2Bridge', l2tunnel: 'L2Tunnel', overlay: 'Overlay' };

async function networkCreate(client: HostClient, args: string[]): Promise<Doc> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      type: { type: 'string', default: 'nat' },
      subnet: { type: 'string', multiple: true },
      gateway: { type: 'string' },
      vsid: { type: 'string' },
      'provider-address': { type: 'string' },
      'vxlan-port': { type: 'string' },
      'dr-mac': { type: 'string' },
      'dns-server': { type: 'string', multiple: true },
      'dns-search': { type: 'string', multiple: true },
      'dns-domain': { type: 'string' },
      mtu: { type: 'string' },
      policy: { type: 'string', multiple: true },
      internal: { type: 'boolean' },
      dhcp: { type: 'boolean' },
      'host-access': { type: 'string', multiple: true },
      adapter: { type: 'string' },
      upstream: { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('network create: exactly one NAME');
  const type = MODE_NAMES[values.type!.toLowerCase()] ?? values.type;
  const hostAccess = values['host-access'] ? usage(() => hostAccessPolicies(values['host-access']!.join(','), '--host-access')) : [];
  const policies = [
    ...hostAccess,
    ...(values.adapter ? [{ Type: 'NetAdapterName', Settings: { NetworkAdapterName: values.adapter } }] : []),
    ...(values.upstream ? [{ Type: 'UpstreamSwitch', Settings: { Bridge: values.upstream } }] : []),
    ...(values['provider-address'] ? [{ Type: 'ProviderAddress', Settings: { ProviderAddress: values['provider-address'] } }] : []),
    ...(values['vxlan-port'] ? [{ Type: 'VxlanPort', Settings: { Port: Number(values['vxlan-port']) } }] : []),
    ...(values['dr-mac'] ? [{ Type: 'DrMacAddress', Settings: { Address: values['dr-mac'] } }] : []),
    ...usage(() => (values.policy ?? []).map(parsePolicyJson)),
  ];
  // Several --subnet for an overlay network, each in the VSID; --gateway is the first one's.
  const vsid = values.vsid !== undefined ? [{ Type: 'VSID', Settings: { IsolationId: Number(values.vsid) } }] : [];
  const subnets: Record<string, unknown>[] = (values.subnet?.length ? values.subnet : vsid.length || values.gateway ? [undefined] : []).map((p, i) => ({
    ...(p ? { IpAddressPrefix: p } : {}),
    ...(i === 0 && values.gateway ? { Routes: [{ NextHop: values.gateway, DestinationPrefix: '0.0.0.0/0' }] } : {}),
    ...(vsid.length ? { Policies: vsid } : {}),
  }));
  const dns: Record<string, unknown> = {};
  if (values['dns-server']) dns.ServerList = values['dns-server'];
  if (values['dns-search']) dns.Search = values['dns-search'];
  if (values['dns-domain']) dns.Domain = values['dns-domain'];
  const body: Record<string, unknown> = {
    Name: positionals[0],
    Type: type,
    SchemaVersion: { Major: 2, Minor: 0 },
    ...(subnets.length ? { Ipams: [{ Type: 'Static', Subnets: subnets }] } : {}),
    ...(Object.keys(dns).length ? { Dns: dns } : {}),
    ...(values.mtu ? { MTU: Number(values.mtu) } : {}),
    ...(policies.length ? { Policies: policies } : {}),
    ...(values.internal ? { Internal: true } : {}),
  };
  // --dhcp: the same Ipam with Type DHCP; its subnet, if given, names the physical network's prefix.
  if (values.dhcp) {
    if (values.gateway) throw new UsageError('network create: --dhcp takes no --gateway (each lease names its router)');
    const subnets = (body.Ipams as { Subnets?: unknown[] }[] | undefined)?.[0]?.Subnets;
    body.Ipams = [{ Type: 'DHCP', ...(subnets ? { Subnets: subnets } : {}) }];
  }
  return client.request<Doc>('POST', '/networks', body);
}

async function endpointCreate(client: HostClient, args: string[]): Promise<Doc> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      network: { type: 'string' },
      ip: { type: 'string' },
      mac: { type: 'string' },
      namespace: { type: 'string' },
      publish: { type: 'string', short: 'p', multiple: true },
      'max-egress': { type: 'string' },
      'max-ingress': { type: 'string' },
      policy: { type: 'string', multiple: true },
      remote: { type: 'boolean' },
      'provider-address': { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('endpoint create: exactly one NAME');
  if (!values.network) throw new UsageError('endpoint create: --network NET is required');
  const name = positionals[0]!;
  const policies = usage(() => [
    ...(values.publish ?? []).map(parsePublish),
    ...qosPolicy(values['max-egress'], values['max-ingress']),
    ...(values['provider-address'] ? [{ Type: 'ProviderAddress', Settings: { ProviderAddress: values['provider-address'] } }] : []),
    ...(values.policy ?? []).map(parsePolicyJson),
  ]);
  // A remote endpoint (an overlay network's, on the host at --provider-address) has no namespace here.
  if (values.remote) {
    if (values.namespace) throw new UsageError('endpoint create --remote: a remote endpoint lives on another host; it takes no --namespace');
    return client.request<Doc>('POST', '/endpoints', {
      Name: name,
      HostComputeNetwork: values.network,
      Flags: 1,
      ...(values.ip ? { IpConfigurations: [{ IpAddress: values.ip }] } : {}),
      ...(values.mac ? { MacAddress: values.mac } : {}),
      Policies: policies,
      SchemaVersion: { Major: 2, Minor: 0 },
    });
  }
  // The namespace: given (known to hostd, or adopted now), or a new one named after the endpoint.
  const nsRef = values.namespace ?? name;
  let ns: Doc;
  let madeNs = false;
  try {
    ns = await client.request<Doc>('GET', `/namespaces/${encodeURIComponent(nsRef)}`);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    ns = await client.request<Doc>('POST', '/namespaces', { Path: nsRef });
    madeNs = true;
  }
  try {
    return await client.request<Doc>('POST', '/endpoints', {
      Name: name,
      HostComputeNetwork: values.network,
      HostComputeNamespace: ns.ID,
      ...(values.ip ? { IpConfigurations: [{ IpAddress: values.ip }] } : {}),
      ...(values.mac ? { MacAddress: values.mac } : {}),
      Policies: policies,
      SchemaVersion: { Major: 2, Minor: 0 },
    });
  } catch (e) {
    if (madeNs) await client.request('DELETE', `/namespaces/${ns.ID}`).catch(() => undefined);
    throw e;
  }
}

/** `endpoint|network policy ls|add|rm|set NAME [JSON...]`: HCN modify requests on one object. */
async function policyCommand(client: HostClient, what: 'endpoint' | 'network', args: string[], json: boolean): Promise<number> {
  const [op, name, ...docs] = args;
  const kinds: Record<string, string> = { add: 'Add', rm: 'Remove', set: 'Update' };
  if (!name || (op !== 'ls' && !kinds[op ?? ''])) throw new UsageError(`${what} policy ls|add|rm|set NAME [JSON...]`);
  const path = `/${what}s/${encodeURIComponent(name)}`;
  if (op === 'ls') {
    const doc = await client.request<Doc & { Policies: { Type: string; Settings?: Record<string, unknown> }[] }>('GET', path);
    if (json) return show(doc.Policies, true, () => '');
    const defaults = doc.AclDefaults as { In: string; Out: string } | undefined;
    console.log(formatTable(doc.Policies.map(policyRow)));
    if (defaults) process.stdout.write(`ACL defaults (new flows no rule decides): In ${defaults.In}, Out ${defaults.Out}\n`);
    return 0;
  }
  if (!docs.length) throw new UsageError(`${what} policy ${op} NAME JSON...: give at least one policy`);
  const policies = usage(() => docs.map(parsePolicyJson));
  const doc = await client.request<Doc>('PATCH', path, { ResourceType: 'Policy', RequestType: kinds[op!], Settings: { Policies: policies } });
  return show(doc, json, (d) => `${d.Name}: ${(d.Policies as unknown[]).length} policies`);
}

/** Removes endpoints, and the namespace the CLI made for one (named after it), once it is empty. */
async function endpointRemove(client: HostClient, names: string[]): Promise<number> {
  let rc = 0;
  for (const n of names) {
    try {
      const ep = await client.request<Doc>('GET', `/endpoints/${encodeURIComponent(n)}`);
      await client.request('DELETE', `/endpoints/${ep.ID}`);
      if (ep.HostComputeNamespace && ep.NamespacePath === `/run/netns/${String(ep.Name)}`) {
        const ns = await client.request<Doc>('GET', `/namespaces/${String(ep.HostComputeNamespace)}`);
        if (ns.Owned && Array.isArray(ns.Resources) && ns.Resources.length === 0) await client.request('DELETE', `/namespaces/${ns.ID}`);
      }
      console.log(n);
    } catch (e) {
      rc = report(e);
    }
  }
  return rc;
}

async function inspect(client: HostClient, kind: string, names: string[]): Promise<number> {
  const docs = [];
  for (const n of names) docs.push(await client.request('GET', `/${kind}/${encodeURIComponent(n)}`));
  console.log(JSON.stringify(names.length === 1 ? docs[0] : docs, null, 2));
  return 0;
}

async function remove(client: HostClient, kind: string, names: string[]): Promise<number> {
  let rc = 0;
  for (const n of names) {
    try {
      await client.request('DELETE', `/${kind}/${encodeURIComponent(n)}`);
      console.log(n);
    } catch (e) {
      rc = report(e);
    }
  }
  return rc;
}

function show(doc: unknown, json: boolean, text: (d: Doc) => string): number {
  console.log(json ? JSON.stringify(doc, null, 2) : text(doc as Doc));
  return 0;
}

function showList(docs: Doc[], json: boolean, row: (d: Doc) => Record<string, string>): number {
  console.log(json ? JSON.stringify(docs, null, 2) : formatTable(docs.map(row)));
  return 0;
}

function health(d: Doc): string {
  const h = d.Health as { Status?: string; Reason?: string } | undefined;
  return h?.Status === 'Error' ? `Error: ${h.Reason}` : (h?.Status ?? '');
}

function networkRow(d: Doc): Record<string, string> {
  const sub = ((d.Ipams as { Subnets?: { IpAddressPrefix?: string; Routes?: { NextHop?: string }[] }[] }[])?.[0]?.Subnets ?? [])[0];
  const up = d.Uplink as { Adapter?: string } | undefined;
  const upstream = d.Upstream as { Bridge?: string } | undefined;
  const ov = d.Overlay as { Vni?: number; ProviderAddress?: string } | undefined;
  const adapter = up?.Adapter ?? (upstream?.Bridge ? `upstream of ${upstream.Bridge}` : ov ? `VSID ${ov.Vni} from ${ov.ProviderAddress}` : '');
  return { NAME: String(d.Name), ID: d.ID, TYPE: `${String(d.Type)}${d.Internal ? ' internal' : ''}`, ADAPTER: adapter, SUBNET: sub?.IpAddressPrefix ?? '', GATEWAY: sub?.Routes?.[0]?.NextHop ?? '', HEALTH: health(d) };
}

/** The provider address a remote overlay endpoint is behind. */
function remotePa(d: Doc): string | undefined {
  const p = (d.Policies as { Type: string; Settings: Record<string, unknown> }[]).find((x) => x.Type === 'ProviderAddress');
  return p ? String(p.Settings.ProviderAddress) : undefined;
}

function endpointRow(d: Doc, nets: Map<string, string>): Record<string, string> {
  const ip = (d.IpConfigurations as { IpAddress?: string }[])?.[0]?.IpAddress ?? '';
  const ports = (d.Policies as { Type: string; Settings: Record<string, number | string> }[])
    .filter((p) => p.Type === 'PortMapping')
    .map((p) => {
      const s = p.Settings;
      const n = Number(s.PortCount ?? 1);
      const r = (a: number) => (n > 1 ? `${a}-${a + n - 1}` : `${a}`);
      const proto = { 6: 'tcp', 17: 'udp', 132: 'sctp' }[Number(s.Protocol)] ?? String(s.Protocol);
      return `${s.VIP ? `${s.VIP}:` : ''}${r(Number(s.ExternalPort))}->${r(Number(s.InternalPort))}/${proto}`;
    })
    .join(',');
  return {
    NAME: String(d.Name),
    ID: d.ID,
    NETWORK: nets.get(String(d.HostComputeNetwork)) ?? String(d.HostComputeNetwork),
    IP: ip,
    NAMESPACE: d.Flags === 1 ? `remote${remotePa(d) ? `, behind ${remotePa(d)}` : ''}` : String(d.NamespacePath ?? ''),
    PORTS: ports,
    STATE: d.State === 'Degraded' ? `Degraded: ${(d.Health as { Reason?: string })?.Reason ?? ''}` : String(d.State),
  };
}

function namespaceRow(d: Doc): Record<string, string> {
  return { ID: d.ID, PATH: String(d.Path), OWNED: String(d.Owned), ENDPOINTS: String((d.Resources as unknown[]).length), HEALTH: health(d) };
}

function statusText(d: Doc): string {
  const problems = (d.Problems as { ID: string; Reason: string }[]) ?? [];
  const modes = (d.Modes as { Type: string; Supported: boolean; Reason?: string }[]) ?? [];
  return [
    `hostd ${String(d.Version)}: ${String(d.Networks)} network(s), ${String(d.Endpoints)} endpoint(s), ${String(d.Namespaces)} namespace(s)`,
    `modes: ${modes.map((m) => (m.Supported ? m.Type : `${m.Type} (no: ${m.Reason})`)).join(', ')}`,
    problems.length ? `problems:\n${problems.map((p) => `  ${p.ID}: ${p.Reason}`).join('\n')}` : 'no problems',
  ].join('\n');
}

function report(e: unknown): number {
  if (e instanceof ApiError) {
    console.error(`Error: ${e.message} (${e.code})`);
    return 1;
  }
  if (e instanceof UsageError) {
    console.error(`Error: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES') {
    console.error(`Error: cannot reach hostd: ${err.message} (is "switchyard hostd" running? set --socket or SWITCHYARD_SOCKET, or --host)`);
    return 3;
  }
  console.error(`Error: ${err.message ?? String(e)}`);
  return 1;
}

main(process.argv.slice(2)).then(
  (rc) => {
    if (rc >= 0) process.exitCode = rc;
  },
  (e) => {
    process.exitCode = report(e);
  },
);
