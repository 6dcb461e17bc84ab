/** Renders hostd's records as HCN v2 documents, spelled as hcsshim writes them. */
import type { ObjectStatus } from '../hostd/reconciler.js';
import { networkBridge, vethName } from '../model/names.js';
import type { DnsSettings, EndpointRecord, NamespaceRecord, NetworkRecord } from '../model/records.js';
import type { HostState } from '../model/state.js';
import { renderPolicies } from '../model/policies.js';
import { aclDefault, effectiveAcls, renderAcl } from '../model/acl.js';
import { endpointMtu } from '../plan/host-plan.js';
import { hostAccessDoc, renderHostAccess } from '../model/host-access.js';

const V2 = { Major: 2, Minor: 0 };

function dnsDoc(d: DnsSettings) {
  return {
    ...(d.domain ? { Domain: d.domain, Suffix: d.domain } : {}),
    ...(d.search.length ? { Search: d.search } : {}),
    ...(d.servers.length ? { ServerList: d.servers } : {}),
    ...(d.options.length ? { Options: d.options } : {}),
  };
}

function health(status: ObjectStatus | undefined) {
  return status?.state === 'error' ? { Status: 'Error', Reason: status.reason ?? '' } : { Status: status ? 'Ready' : 'Pending' };
}

/** A MAC as HNS writes it: 02-AA-BB-CC-DD-EE. */
function hcnMac(mac: string): string {
  return mac.toUpperCase().replace(/:/g, '-');
}

export function renderNetwork(n: NetworkRecord, status?: ObjectStatus) {
  return {
    ID: n.id,
    Name: n.name,
    Type: n.type,
    Policies: [...n.policies, ...(n.acls ?? []).map((a) => ({ Type: 'NetworkACL', Settings: renderAcl(a) })), ...(n.hostAccess ?? []).map(renderHostAccess)],
    MacPool: n.macPool ? { Ranges: n.macPool.map((r) => ({ StartMacAddress: hcnMac(r.start), EndMacAddress: hcnMac(r.end) })) } : {},
    Dns: dnsDoc(n.dns),
    Ipams: [
      {
        Type: 'Static',
        Subnets: [{ IpAddressPrefix: n.subnet, Routes: [{ NextHop: n.gateway, DestinationPrefix: '0.0.0.0/0' }] }],
      },
    ],
    Flags: n.flags,
    ...(n.mtu ? { MTU: n.mtu } : {}),
    SchemaVersion: V2,
    // Switchyard extensions
    ...(n.internal ? { Internal: true } : {}),
    Bridge: networkBridge(n),
    ...(n.uplink ? { Uplink: { Adapter: n.uplink.name, MacAddress: hcnMac(n.uplink.mac) } } : {}),
    ...(n.upstream ? { Upstream: { Bridge: n.upstream.bridge } } : {}),
    HostAccess: hostAccessDoc(n),
    Health: health(status),
  };
}

export function renderPortMappingPolicy(m: EndpointRecord['portMappings'][number]) {
  return {
    Type: 'PortMapping',
    Settings: {
      Protocol: m.protocol,
      InternalPort: m.internalPort,
      ExternalPort: m.externalPort,
      ...(m.hostIp ? { VIP: m.hostIp } : {}),
      Flags: m.flags,
      ...(m.count > 1 ? { PortCount: m.count } : {}),
    },
  };
}

export function renderEndpoint(e: EndpointRecord, state: HostState, status?: ObjectStatus) {
  const net = state.networks.get(e.networkId);
  const ns = e.namespaceId ? state.namespaces.get(e.namespaceId) : undefined;
  const prefix = net ? Number(net.subnet.split('/')[1]) : 32;
  return {
    ID: e.id,
    Name: e.name,
    HostComputeNetwork: e.networkId,
    ...(e.namespaceId ? { HostComputeNamespace: e.namespaceId } : {}),
    Policies: [...e.portMappings.map(renderPortMappingPolicy), ...renderPolicies(e.policies)],
    IpConfigurations: [{ IpAddress: e.ip, PrefixLength: prefix }],
    Dns: dnsDoc(e.dns ?? net?.dns ?? { search: [], servers: [], options: [] }),
    Routes: net
      ? [
          { NextHop: net.gateway, DestinationPrefix: '0.0.0.0/0' },
          ...e.policies.routes.map((r) => ({ ...(r.nextHop ? { NextHop: r.nextHop } : {}), DestinationPrefix: r.destination, ...(r.metric ? { Metric: r.metric } : {}) })),
        ]
      : [],
    MacAddress: hcnMac(e.mac),
    Flags: e.remote ? 1 : 0,
    SchemaVersion: V2,
    // HCN v1's endpoint state, and Switchyard extensions
    State: status?.state === 'error' ? 'Degraded' : e.namespaceId ? 'Attached' : 'Created',
    InterfaceName: e.ifName,
    HostIfName: vethName(e.id),
    ...(ns ? { NamespacePath: ns.path } : {}),
    // What a new flow no ACL decides meets, per direction (HNS blocks both once any ACL exists).
    AclDefaults: {
      In: aclDefault(effectiveAcls(e.policies.acls, net?.acls)),
      Out: aclDefault(effectiveAcls(e.policies.acls, net?.acls)),
    },
    ...(e.policies.encapOverhead !== undefined || net?.mtu ? { Mtu: endpointMtu(e, net) } : {}),
    Health: health(status),
  };
}

export function renderNamespace(n: NamespaceRecord, state: HostState, status?: ObjectStatus) {
  const eps = [...(state.index.endpointsByNamespace.get(n.id) ?? [])].map((id) => state.endpoints.get(id)!);
  return {
    ID: n.id,
    Type: 'Host',
    Resources: eps.map((e) => ({ Type: 'Endpoint', Data: { Id: e.id } })),
    SchemaVersion: V2,
    // Switchyard extensions
    Path: n.path,
    Owned: n.owned,
    ...(n.autoRelease ? { AutoRelease: true } : {}),
    Health: health(status),
  };
}
