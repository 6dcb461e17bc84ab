/**
 * Hostile strings in every user-supplied string that can reach an nft script, a command's argv, a
 * file (resolv.conf) or a log: quotes, backslashes, semicolons, newlines and carriage returns,
 * `$(…)` and backticks, braces, `#`, NUL, 10,000 characters, RTL marks, emoji, prototype names.
 * For each field and each string: either refused with a 4xx whose message names the field, and
 * nothing changed; or accepted, and then provably harmless — the nft text the fake data plane holds
 * renders (quote() refuses anything unsafe), resolv.conf holds only well-formed lines, and the string
 * is one of a short list of accepted values stated below (so a loosened check is noticed).
 * The same for the Docker front door's options and messages, and the CNI plugin's environment and
 * config. test/kernel/hostile-strings.test.ts shows the accepted ones verbatim in the real ruleset.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildApi } from '../../src/hostd/api.js';
import { networkDriver, Serial } from '../../src/docker/driver.js';
import { JsonRecords } from '../../src/docker/json-records.js';
import type { NetworkExtras } from '../../src/docker/translate.js';
import { parseRequest } from '../../src/cni/config.js';
import { CniError } from '../../src/cni/errors.js';
import { newTestHost, snapshot, type TestHost } from './host-fixture.js';
import { HOSTILE_STRINGS } from './fuzz-inputs.js';

const NS_B = 'c2c2c2c2-0000-4000-8000-00000000000b';
const acl = (s: Record<string, unknown>) => ({ Type: 'ACL', Settings: { Id: 'web', Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: '80', Priority: 100, ...s } });
const net = (o: Record<string, unknown>) => ({ Name: 'net-b', Type: 'NAT', Ipams: [{ Subnets: [{ IpAddressPrefix: '172.30.0.0/24' }] }], ...o });
const ep = (o: Record<string, unknown>) => ({ Name: 'ep-b', HostComputeNetwork: 'net-a', HostComputeNamespace: NS_B, ...o });
const withPolicy = (p: unknown) => ep({ Policies: [p] });

interface Field {
  field: string;
  /** what the refusal's message must name */
  names: RegExp;
  request: (v: string) => [method: string, url: string, body?: unknown];
  /** values accepted on purpose (the check is an allow-list that lets them through, and they are safe where they go) */
  accepted?: string[];
}

/** Valid network and endpoint names that are also names of Object.prototype members: records live in Maps, so they are plain names. */
const PLAIN_NAMES = ['constructor', 'prototype', 'toString', 'hasOwnProperty'];
/** Valid DNS domains, ACL Ids and namespace names may also start with "_". */
const PLAIN_IDS = ['__proto__', ...PLAIN_NAMES];

const FIELDS: Field[] = [
  { field: 'network Name', names: /Network name|\/Name/, request: (v) => ['POST', '/networks', net({ Name: v })], accepted: PLAIN_NAMES },
  // an empty Name or namespace means "none given": the endpoint is named by its ID, has no namespace, a namespace gets a made-up path
  { field: 'endpoint Name', names: /Endpoint name|\/Name/, request: (v) => ['POST', '/endpoints', ep({ Name: v })], accepted: ['', ...PLAIN_NAMES] },
  { field: 'endpoint HostComputeNetwork', names: /Network|HostComputeNetwork/, request: (v) => ['POST', '/endpoints', ep({ HostComputeNetwork: v })] },
  { field: 'endpoint HostComputeNamespace', names: /Namespace|HostComputeNamespace/, request: (v) => ['POST', '/endpoints', ep({ HostComputeNamespace: v, AdoptNamespace: true })], accepted: [''] },
  { field: 'namespace Path', names: /Namespace path|\/Path|Network namespace/, request: (v) => ['POST', '/namespaces', { Path: v }], accepted: ['', ...PLAIN_IDS] },
  { field: 'endpoint InterfaceName', names: /InterfaceName/, request: (v) => ['POST', '/endpoints', ep({ InterfaceName: v })], accepted: PLAIN_NAMES.filter((n) => n.length <= 15) },
  { field: 'attach InterfaceName', names: /InterfaceName/, request: (v) => ['POST', '/endpoints/ep-c/attach', { NamespaceId: NS_B, InterfaceName: v }], accepted: PLAIN_NAMES.filter((n) => n.length <= 15) },
  { field: 'attach NamespaceId', names: /Namespace|NamespaceId/, request: (v) => ['POST', '/endpoints/ep-c/attach', { NamespaceId: v, AdoptNamespace: true }] },
  { field: 'ACL Id', names: /Settings\.Id/, request: (v) => ['POST', '/endpoints', withPolicy(acl({ Id: v }))], accepted: ['-rf', '--help', ...PLAIN_IDS] },
  { field: 'ACL Protocols', names: /Settings\.Protocols/, request: (v) => ['POST', '/endpoints', withPolicy(acl({ Protocols: v, LocalPorts: '' }))], accepted: [''] },
  { field: 'ACL RemoteAddresses', names: /Settings\.RemoteAddresses/, request: (v) => ['POST', '/endpoints', withPolicy(acl({ RemoteAddresses: v }))], accepted: [''] },
  { field: 'ACL LocalPorts', names: /Settings\.LocalPorts/, request: (v) => ['POST', '/endpoints', withPolicy(acl({ LocalPorts: v }))], accepted: [''] },
  { field: 'ACL Action', names: /Settings\.Action/, request: (v) => ['POST', '/endpoints', withPolicy(acl({ Action: v }))] },
  { field: 'network Dns.Domain', names: /Dns/, request: (v) => ['POST', '/networks', net({ Dns: { Domain: v } })], accepted: ['', ...PLAIN_IDS] },
  { field: 'network Dns.Suffix', names: /Dns/, request: (v) => ['POST', '/networks', net({ Dns: { Suffix: v } })], accepted: ['', ...PLAIN_IDS] },
  { field: 'network Dns.Search', names: /Dns/, request: (v) => ['POST', '/networks', net({ Dns: { Search: [v] } })], accepted: PLAIN_IDS },
  { field: 'network Dns.ServerList', names: /Dns|ServerList/, request: (v) => ['POST', '/networks', net({ Dns: { ServerList: [v] } })] },
  { field: 'network Dns.Options', names: /Dns|Options/, request: (v) => ['POST', '/networks', net({ Dns: { Options: [v] } })], accepted: ['-rf', '--help', ...PLAIN_IDS] },
  { field: 'endpoint Dns.Search', names: /Dns/, request: (v) => ['POST', '/endpoints', ep({ Dns: { Search: [v] } })], accepted: PLAIN_IDS },
  { field: 'endpoint Dns.ServerList', names: /Dns|ServerList/, request: (v) => ['POST', '/endpoints', ep({ Dns: { ServerList: [v] } })] },
  { field: 'network subnet', names: /IpAddressPrefix|[Ss]ubnet/, request: (v) => ['POST', '/networks', net({ Ipams: [{ Subnets: [{ IpAddressPrefix: v }] }] })], accepted: [''] },
  { field: 'network gateway', names: /Gateway|NextHop/, request: (v) => ['POST', '/networks', net({ Ipams: [{ Subnets: [{ IpAddressPrefix: '172.30.0.0/24', Routes: [{ NextHop: v }] }] }] })], accepted: [''] },
  { field: 'network Type', names: /Type/, request: (v) => ['POST', '/networks', net({ Type: v })] },
  { field: 'endpoint MacAddress', names: /MacAddress/, request: (v) => ['POST', '/endpoints', ep({ MacAddress: v })], accepted: [''] },
  { field: 'endpoint IpAddress', names: /IpAddress/, request: (v) => ['POST', '/endpoints', ep({ IpConfigurations: [{ IpAddress: v }] })], accepted: [''] },
  { field: 'PortMapping VIP', names: /VIP/, request: (v) => ['POST', '/endpoints', withPolicy({ Type: 'PortMapping', Settings: { InternalPort: 80, ExternalPort: 9000, VIP: v } })], accepted: [''] },
  { field: 'PortMapping Protocol', names: /Protocol/, request: (v) => ['POST', '/endpoints', withPolicy({ Type: 'PortMapping', Settings: { InternalPort: 80, Protocol: v } })] },
  { field: 'SDNRoute DestinationPrefix', names: /DestinationPrefix/, request: (v) => ['POST', '/endpoints', withPolicy({ Type: 'SDNRoute', Settings: { DestinationPrefix: v } })] },
  { field: 'SDNRoute NextHop', names: /NextHop/, request: (v) => ['POST', '/endpoints', withPolicy({ Type: 'SDNRoute', Settings: { DestinationPrefix: '10.9.0.0/16', NextHop: v } })], accepted: [''] },
  { field: 'OutBoundNAT Exceptions', names: /Exceptions/, request: (v) => ['POST', '/endpoints', withPolicy({ Type: 'OutBoundNAT', Settings: { Exceptions: [v] } })] },
  { field: 'OutBoundNAT VirtualIP', names: /VirtualIP/, request: (v) => ['POST', '/endpoints', withPolicy({ Type: 'OutBoundNAT', Settings: { VirtualIP: v } })], accepted: [''] },
  { field: 'policy Type', names: /Type|Policies\[0\]/, request: (v) => ['POST', '/endpoints', withPolicy({ Type: v, Settings: {} })] },
  { field: 'modify RequestType', names: /RequestType/, request: (v) => ['PATCH', '/endpoints/ep-a', { ResourceType: 'Policy', RequestType: v, Settings: { Policies: [acl({ Id: 'x1' })] } }] },
  { field: 'trace RemoteAddress', names: /RemoteAddress/, request: (v) => ['POST', '/trace', { Endpoint: 'ep-a', Direction: 'In', Protocol: 6, RemoteAddress: v }] },
  { field: 'trace Endpoint', names: /Endpoint/, request: (v) => ['POST', '/trace', { Endpoint: v, Direction: 'In', Protocol: 6, RemoteAddress: '192.0.2.2' }] },
];

/** Lines Switchyard may write into a resolv.conf: its mark and well-formed directives, nothing else. */
const RESOLV_LINE = /^(# .*|nameserver [0-9.]+|search [A-Za-z0-9_.-]+( [A-Za-z0-9_.-]+)*|domain [A-Za-z0-9_.-]+|options [A-Za-z0-9_:.-]+( [A-Za-z0-9_:.-]+)*)$/;

async function seeded(): Promise<{ h: TestHost; app: ReturnType<typeof buildApi> }> {
  const h = await newTestHost();
  const app = buildApi(h.svc);
  await h.svc.createNetwork({ Name: 'net-a', Type: 'NAT', Ipams: [{ Subnets: [{ IpAddressPrefix: '172.18.0.0/24' }] }] });
  await h.svc.createNamespace({ Path: '/run/netns/a' });
  await h.svc.createNamespace({ ID: NS_B, Path: '/run/netns/b' });
  await h.svc.createEndpoint({ Name: 'ep-a', HostComputeNetwork: 'net-a', HostComputeNamespace: '/run/netns/a', Dns: { Search: ['corp.example'] } });
  await h.svc.createEndpoint({ Name: 'ep-c', HostComputeNetwork: 'net-a' });
  return { h, app };
}

/** What an accepted request may leave: nft text quote() accepted, and resolv.conf files of well-formed lines. */
function assertHarmless(h: TestHost, what: string): void {
  const dump = h.fake.dump(); // renders every nft table: quote() throws on an unsafe comment
  for (const [path, content] of h.fake.files) {
    for (const line of content.replace(/\n$/, '').split('\n')) assert.match(line, RESOLV_LINE, `${what}: ${path} holds ${JSON.stringify(line)}`);
  }
  for (const line of dump.split('\n').filter((l) => l.includes('comment "'))) {
    assert.match(line, /comment "[A-Za-z0-9 _.:/=,+@#-]*"/, `${what}: ${line}`);
  }
}

const show = (v: string) => (v.length > 30 ? `${JSON.stringify(v.slice(0, 12))}… (${v.length} characters)` : JSON.stringify(v));

describe('hostile strings in every field of the host API', () => {
  for (const f of FIELDS) {
    it(`${f.field}: refused naming the field, or accepted only as listed and harmless`, async () => {
      let host = await seeded();
      const accepted: string[] = [];
      try {
        for (const v of HOSTILE_STRINGS) {
          const { h, app } = host;
          const before = snapshot(h);
          const [method, url, body] = f.request(v);
          const res = await app.inject({ method: method as 'POST', url, ...(body !== undefined ? { payload: body as object } : {}) });
          const what = `${f.field} = ${show(v)}`;
          assert.ok(res.statusCode < 500, `${what}: ${res.statusCode} ${res.body.slice(0, 300)}`);
          if (res.statusCode >= 400) {
            const e = res.json() as { Error: string; Code: string };
            assert.match(e.Error, f.names, `${what}: the message names the field: ${e.Error.slice(0, 300)}`);
            assert.deepEqual(snapshot(h), before, `${what} was refused but changed state`);
            continue;
          }
          accepted.push(v);
          assertHarmless(h, what);
          await app.close();
          h.cleanup();
          host = await seeded();
        }
      } finally {
        await host.app.close();
        host.h.cleanup();
      }
      const expected = HOSTILE_STRINGS.filter((v) => (f.accepted ?? []).includes(v));
      assert.deepEqual(accepted.map(show), expected.map(show), `${f.field}: accepted exactly the listed values`);
    });
  }
});

describe('hostile strings in the Docker front door', () => {
  const NET = 'a'.repeat(8) + '1'.repeat(56);
  const EP = 'b'.repeat(8) + '2'.repeat(56);
  const v4 = [{ AddressSpace: 'LocalDefault', Pool: '10.99.0.0/24', Gateway: '10.99.0.1/24' }];
  const OPTIONS = [
    'switchyard.name',
    'switchyard.mtu',
    'switchyard.dns-servers',
    'switchyard.dns-search',
    'switchyard.dns-domain',
    'com.docker.network.driver.mtu',
    'com.docker.network.windowsshim.networkname',
    'com.docker.network.windowsshim.dnsservers',
    'com.docker.network.windowsshim.dnssuffix',
    'com.docker.network.windowsshim.enable_outboundnat',
    'com.docker.network.windowsshim.outboundnat_exceptions',
  ];
  /** Option values that are accepted on purpose: names that are plain names, domains, empty lists. */
  const ACCEPTED: Record<string, string[]> = {
    'switchyard.name': PLAIN_NAMES,
    'com.docker.network.windowsshim.networkname': PLAIN_NAMES,
    // lists split on commas and spaces: empty entries are dropped
    'switchyard.dns-search': ['a b', '', ' ', ...PLAIN_IDS],
    'switchyard.dns-domain': ['', ...PLAIN_IDS],
    'com.docker.network.windowsshim.dnssuffix': ['', ...PLAIN_IDS],
    'switchyard.dns-servers': ['', ' '],
    'com.docker.network.windowsshim.dnsservers': ['', ' '],
    'com.docker.network.windowsshim.outboundnat_exceptions': ['', ' '],
  };
  const setup = async () => {
    const h = await newTestHost();
    h.fake.namespaces.add('/proc/self/ns/net');
    const extras = new JsonRecords<NetworkExtras>(join(h.dir, 'docker', 'networks.json'), 'networks');
    const drv = networkDriver('nat', h.svc, new Serial(), { log: { info: () => undefined, warn: () => undefined }, sandboxTimeoutMs: 50, extras });
    return { h, call: (m: string, body: unknown) => drv.handlers[`NetworkDriver.${m}`]!(body) };
  };

  for (const key of OPTIONS) {
    it(`network option ${key}: refused, or accepted only as listed and harmless`, async () => {
      const accepted: string[] = [];
      for (const v of HOSTILE_STRINGS) {
        const { h, call } = await setup();
        try {
          const before = snapshot(h);
          const what = `${key}=${show(v)}`;
          try {
            await call('CreateNetwork', { NetworkID: NET, Options: { 'com.docker.network.generic': { [key]: v } }, IPv4Data: v4 });
          } catch (e) {
            assert.ok(e instanceof Error && 'code' in e && e.code !== 'SY_INTERNAL', `${what}: ${String(e)}`);
            assert.deepEqual(snapshot(h), before, `${what} was refused but changed state`);
            continue;
          }
          accepted.push(v);
          assertHarmless(h, what);
        } finally {
          h.cleanup();
        }
      }
      assert.deepEqual(accepted.map(show), HOSTILE_STRINGS.filter((v) => (ACCEPTED[key] ?? []).includes(v)).map(show));
    });
  }

  it('SandboxKey, Interface.Address and MacAddress: refused, or accepted only as listed and harmless', async () => {
    const { h, call } = await setup();
    try {
      await call('CreateNetwork', { NetworkID: NET, Options: {}, IPv4Data: v4 });
      await call('CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '10.99.0.2/24' } });
      const EP2 = 'c'.repeat(8) + '3'.repeat(56);
      const sends: [string, string, (v: string) => unknown, string[]][] = [
        // a bare name is a sandbox under /run/netns, as for every namespace reference; it never appears here, so the Join waits (50 ms)
        ['Join', 'SandboxKey', (v) => ({ NetworkID: NET, EndpointID: EP, SandboxKey: v }), PLAIN_IDS],
        // an empty field is what Docker sends for one the user left out
        ['CreateEndpoint', 'Interface.Address', (v) => ({ NetworkID: NET, EndpointID: EP2, Interface: { Address: v } }), ['']],
        ['CreateEndpoint', 'Interface.MacAddress', (v) => ({ NetworkID: NET, EndpointID: EP2, Interface: { Address: '10.99.0.3/24', MacAddress: v } }), ['']],
        // "toString" is 8 base64 characters: the 6 bytes of a unicast MAC, as good as any
        ['CreateEndpoint', 'macaddress option', (v) => ({ NetworkID: NET, EndpointID: EP2, Interface: { Address: '10.99.0.3/24' }, Options: { 'com.docker.network.endpoint.macaddress': v } }), ['', 'toString']],
      ];
      for (const [m, field, body, allowed] of sends) {
        const accepted: string[] = [];
        for (const v of HOSTILE_STRINGS) {
          const before = snapshot(h);
          try {
            await call(m, body(v));
          } catch (e) {
            assert.ok(e instanceof Error && 'code' in e && e.code !== 'SY_INTERNAL', `${m} ${field} = ${show(v)}: ${String(e)}`);
            assert.deepEqual(snapshot(h), before, `${m} ${field} = ${show(v)} was refused but changed state`);
            continue;
          }
          accepted.push(v);
          assertHarmless(h, `${m} ${field} = ${show(v)}`);
          if (m === 'CreateEndpoint') await call('DeleteEndpoint', { NetworkID: NET, EndpointID: EP2 });
        }
        assert.deepEqual(accepted.map(show), HOSTILE_STRINGS.filter((v) => allowed.includes(v)).map(show), `${m} ${field}`);
      }
      await call('Leave', { NetworkID: NET, EndpointID: EP });
    } finally {
      h.cleanup();
    }
  });
});

describe('hostile strings in the CNI plugin', () => {
  const env = (o: Record<string, string>) => ({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/c1', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', ...o });
  const conf = (o: Record<string, unknown>) => JSON.stringify({ cniVersion: '1.1.0', name: 'mynet', type: 'switchyard', subnet: '10.88.0.0/16', ...o });
  const CASES: [string, RegExp, (v: string) => [Record<string, string>, string], string[]][] = [
    // a container id only names the attachment through a digest: any length is fine
    ['CNI_CONTAINERID', /CNI_CONTAINERID/, (v) => [env({ CNI_CONTAINERID: v }), conf({})], ['a'.repeat(10_000), ...PLAIN_NAMES]],
    ['CNI_IFNAME', /CNI_IFNAME/, (v) => [env({ CNI_IFNAME: v }), conf({})], PLAIN_NAMES.filter((n) => n.length <= 15)],
    ['CNI_NETNS', /CNI_NETNS/, (v) => [env({ CNI_NETNS: v }), conf({})], []],
    ['CNI_ARGS IP', /CNI_ARGS IP/, (v) => [env({ CNI_ARGS: `IP=${v}` }), conf({})], []],
    ['name', /name/, (v) => [env({}), conf({ name: v })], PLAIN_NAMES],
    ['socket', /socket/, (v) => [env({}), conf({ socket: v })], []],
    ['mode', /mode/, (v) => [env({}), conf({ mode: v })], []],
    ['subnet', /subnet/, (v) => [env({}), conf({ subnet: v })], []],
    ['gateway', /gateway/, (v) => [env({}), conf({ gateway: v })], []],
    ['dns.nameservers', /dns\.nameservers/, (v) => [env({}), conf({ dns: { nameservers: [v] } })], []],
    ['dns.search', /dns\.search/, (v) => [env({}), conf({ dns: { search: [v] } })], PLAIN_IDS],
    ['dns.domain', /dns\.domain/, (v) => [env({}), conf({ dns: { domain: v } })], ['', ...PLAIN_IDS]],
    ['runtimeConfig.portMappings hostIP', /hostIP/, (v) => [env({}), conf({ runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 80, hostIP: v }] } })], ['']],
    ['runtimeConfig.ips', /runtimeConfig\.ips/, (v) => [env({}), conf({ runtimeConfig: { ips: [v] } })], []],
  ];
  for (const [field, names, make, allowed] of CASES) {
    it(`${field}: refused with a CNI error naming it, or accepted only as listed`, () => {
      const accepted: string[] = [];
      for (const v of HOSTILE_STRINGS) {
        const [e, stdin] = make(v);
        try {
          parseRequest(e, stdin);
          accepted.push(v);
        } catch (err) {
          assert.ok(err instanceof CniError, `${field} = ${show(v)}: ${String(err)}`);
          assert.match(err.message, names, `${field} = ${show(v)}: ${err.message.slice(0, 200)}`);
        }
      }
      assert.deepEqual(accepted.map(show), HOSTILE_STRINGS.filter((v) => allowed.includes(v)).map(show));
    });
  }

  it('CNI_ARGS keys other than IP are ignored: none of their value reaches the request', () => {
    for (const v of HOSTILE_STRINGS.filter((s) => !s.includes(';') && !s.includes('=') && s.length > 3)) {
      const req = parseRequest(env({ CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAME=${v}` }), conf({}));
      assert.ok(!JSON.stringify(req).includes(JSON.stringify(v).slice(1, -1)), show(v));
    }
  });
});
