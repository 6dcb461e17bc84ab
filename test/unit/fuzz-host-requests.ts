/**
 * Requests for the host API fuzz tests (unit: in-process with the fake data plane; kernel: a real
 * hostd over its unix socket): the seed every input meets (network net-a, namespaces A and B,
 * endpoint ep-a in A with a port mapping and an ACL), valid templates of every document, and an
 * arbitrary request on every route built from them (spoiled templates, arbitrary JSON, raw bodies,
 * odd ids and query strings). Namespace paths are parameters: the kernel test gives its own prefix.
 */
import fc from 'fast-check';
import { oddIds, oddQuery, pollutedJson, rawBodies, spoiled, type RawBody } from './fuzz-inputs.js';

export const NET_A = 'a1a1a1a1-0000-4000-8000-00000000000a';
export const NS_A = 'c1c1c1c1-0000-4000-8000-00000000000a';
export const NS_B = 'c2c2c2c2-0000-4000-8000-00000000000b';
export const EP_A = 'e1e1e1e1-0000-4000-8000-00000000000a';

export interface Paths {
  /** the seeded namespaces A and B, and the one a namespace template asks for */
  nsA: string;
  nsB: string;
  fresh: string;
}

export interface HostRequest {
  method: string;
  url: string;
  /** whether a success may change state (the test then starts over from the seed) */
  mutating: boolean;
  body?: RawBody;
}

const acl = { Type: 'ACL', Settings: { Id: 'web', Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: '80', RemoteAddresses: '192.0.2.0/24', Priority: 100, RuleType: 'Switch' } };

/** The seed, in the order it is made: [method, path, body]. */
export function seedRequests(p: Paths): [string, string, unknown][] {
  return [
    ['POST', '/networks', { ID: NET_A, Name: 'net-a', Type: 'NAT', Dns: { ServerList: ['192.0.2.53'] }, Ipams: [{ Subnets: [{ IpAddressPrefix: '172.18.0.0/24' }] }] }],
    ['POST', '/namespaces', { ID: NS_A, Path: p.nsA }],
    ['POST', '/namespaces', { ID: NS_B, Path: p.nsB }],
    [
      'POST',
      '/endpoints',
      { ID: EP_A, Name: 'ep-a', HostComputeNetwork: NET_A, HostComputeNamespace: NS_A, Policies: [{ Type: 'PortMapping', Settings: { Protocol: 6, InternalPort: 80, ExternalPort: 8080 } }, acl] },
    ],
  ];
}

const POLICIES = [
  { Type: 'PortMapping', Settings: { Protocol: 6, InternalPort: 80, ExternalPort: 9000, VIP: '192.0.2.1', PortCount: 2, Flags: 0 } },
  acl,
  { Type: 'QOS', Settings: { MaximumOutgoingBandwidthInBytes: 125000, OutgoingBurstInBytes: 65536 } },
  { Type: 'OutBoundNAT', Settings: { Exceptions: ['10.0.0.0/8'], Destinations: ['192.0.2.0/24'], VirtualIP: '192.0.2.1' } },
  { Type: 'SDNRoute', Settings: { DestinationPrefix: '10.9.0.0/16', NextHop: '172.18.0.9', Metric: 5 } },
  { Type: 'EncapOverhead', Settings: { Overhead: 50 } },
];
const DNS = { Domain: 'corp.example', Search: ['a.example', 'b.example'], ServerList: ['192.0.2.53'], Options: ['ndots:2'] };
const NETWORK = {
  Name: 'net-b',
  Type: 'NAT',
  Ipams: [{ Type: 'Static', Subnets: [{ IpAddressPrefix: '172.30.0.0/24', Routes: [{ NextHop: '172.30.0.1', DestinationPrefix: '0.0.0.0/0', Metric: 0 }] }] }],
  Dns: DNS,
  MTU: 1400,
  Flags: 0,
  SchemaVersion: { Major: 2, Minor: 0 },
};
const ENDPOINT = {
  Name: 'ep-b',
  HostComputeNetwork: 'net-a',
  HostComputeNamespace: NS_B,
  IpConfigurations: [{ IpAddress: '172.18.0.50', PrefixLength: 24 }],
  MacAddress: '02-00-00-00-00-50',
  Dns: DNS,
  Routes: [{ DestinationPrefix: '10.8.0.0/16', NextHop: '172.18.0.9' }],
  InterfaceName: 'eth1',
  Policies: POLICIES,
  SchemaVersion: { Major: 2, Minor: 0 },
};
const MODIFY = ['Add', 'Remove', 'Update'].map((RequestType) => ({ ResourceType: 'Policy', RequestType, Settings: { Policies: POLICIES } }));
const NETWORK_POLICIES = [
  { Type: 'NetworkACL', Settings: { Id: 'no-ssh', Action: 'Block', Direction: 'In', Protocols: '6', LocalPorts: '22', Priority: 10 } },
  { Type: 'HostAccess', Settings: { Ports: '53,8080-8090', Protocols: '6,17' } },
];
const MODIFY_NETWORK = ['Add', 'Remove', 'Update'].map((RequestType) => ({ ResourceType: 'Policy', RequestType, Settings: { Policies: NETWORK_POLICIES } }));
const ATTACH = { NamespaceId: NS_B, InterfaceName: 'eth1', AdoptNamespace: false };
const TRACE = { Endpoint: 'ep-a', Direction: 'In', Protocol: 6, RemoteAddress: '192.0.2.2', RemotePort: 1234, LocalPort: 80, HostPort: 8080, Probe: false };

interface Route {
  method: string;
  url: fc.Arbitrary<string>;
  templates?: unknown[];
  mutating: boolean;
}

function routes(p: Paths): Route[] {
  const ep = oddIds(['ep-a', EP_A]);
  const net = oddIds(['net-a', NET_A]);
  const ns = oddIds([p.nsB, NS_B, p.nsB.replace(/^\/run\/netns\//, '')].map((s) => encodeURIComponent(s)));
  const namespace = { Path: p.fresh, Type: 'Host', Resources: [], SchemaVersion: { Major: 2, Minor: 0 } };
  return [
    { method: 'POST', url: fc.constant('/networks'), templates: [NETWORK], mutating: true },
    { method: 'POST', url: fc.constant('/endpoints'), templates: [ENDPOINT, ...POLICIES.map((x) => ({ ...ENDPOINT, Policies: [x] }))], mutating: true },
    { method: 'POST', url: fc.constant('/namespaces'), templates: [namespace], mutating: true },
    { method: 'PATCH', url: ep.map((id) => `/endpoints/${id}`), templates: MODIFY, mutating: true },
    { method: 'PATCH', url: net.map((id) => `/networks/${id}`), templates: MODIFY_NETWORK, mutating: true },
    { method: 'POST', url: ep.map((id) => `/endpoints/${id}/attach`), templates: [ATTACH], mutating: true },
    { method: 'POST', url: ep.map((id) => `/endpoints/${id}/detach`), templates: [{}], mutating: true },
    { method: 'POST', url: fc.constant('/trace'), templates: [TRACE, { ...TRACE, Direction: 'Out', HostPort: undefined }], mutating: false },
    { method: 'DELETE', url: net.map((id) => `/networks/${id}`), mutating: true },
    { method: 'DELETE', url: ep.map((id) => `/endpoints/${id}`), mutating: true },
    { method: 'DELETE', url: ns.map((id) => `/namespaces/${id}`), mutating: true },
    { method: 'GET', url: net.map((id) => `/networks/${id}`), mutating: false },
    { method: 'GET', url: ep.map((id) => `/endpoints/${id}`), mutating: false },
    { method: 'GET', url: ep.map((id) => `/endpoints/${id}/stats`), mutating: false },
    { method: 'GET', url: ns.map((id) => `/namespaces/${id}`), mutating: false },
    { method: 'GET', url: oddQuery.map((q) => `/endpoints${q}`), mutating: false },
    { method: 'GET', url: oddQuery.map((q) => `/networks${q}`), mutating: false },
    { method: 'GET', url: fc.constantFrom('/status', '/metrics', '/healthz', '/namespaces?x=1', '/', '/nope', '/networks/', '//networks'), mutating: false },
    { method: 'PUT', url: fc.constantFrom('/networks', '/networks/net-a', '/endpoints/ep-a'), templates: [NETWORK], mutating: false },
  ];
}

const bodyOf = (templates: unknown[]): fc.Arbitrary<RawBody> =>
  fc.oneof(
    { weight: 6, arbitrary: spoiled(templates).map((d) => ({ body: JSON.stringify(d) ?? '', what: 'spoiled document' })) },
    { weight: 2, arbitrary: pollutedJson.map((d) => ({ body: JSON.stringify(d) ?? '', what: 'arbitrary JSON' })) },
    { weight: 2, arbitrary: rawBodies(templates) },
  );

/** One request on any route of the host API. */
export function hostRequest(p: Paths): fc.Arbitrary<HostRequest> {
  return fc.oneof(
    ...routes(p).map((route) =>
      fc
        .tuple(route.url, route.templates ? bodyOf(route.templates) : fc.constant(undefined))
        .map(([url, body]): HostRequest => ({ method: route.method, url, mutating: route.mutating, ...(body ? { body } : {}) })),
    ),
  );
}
