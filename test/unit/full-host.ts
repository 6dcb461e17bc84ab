/**
 * The "full host" scenario shared by the planner's goldens and the kernel round-trip test: two NAT
 * networks (the second with HostAccess policies and its gateway as DNS server, a NetAdapterName and a
 * MacPool), two namespaces hostd creates, an endpoint publishing every kind of port mapping, and an
 * endpoint with every other policy (ACLs of each action, QOS both ways, OutBoundNAT, routes); and an
 * internal network whose endpoint shares the second namespace (eth1).
 */
import type { TestHost } from './host-fixture.js';

export const NET_NAT = 'a1a1a1a1-0000-4000-8000-000000000001';
export const NET_TWO = 'b2b2b2b2-0000-4000-8000-000000000002';
export const NS_WEB = 'c3c3c3c3-0000-4000-8000-000000000003';
export const NS_CLI = 'd4d4d4d4-0000-4000-8000-000000000004';
export const EP_WEB = 'e5e5e5e5-0000-4000-8000-000000000005';
export const EP_CLI = 'f6f6f6f6-0000-4000-8000-000000000006';
export const NET_INT = 'b9b9b9b9-0000-4000-8000-000000000007';
export const EP_DB = 'f7f7f7f7-0000-4000-8000-000000000008';

const portMapping = (Settings: Record<string, unknown>) => ({ Type: 'PortMapping', Settings });

export async function buildFullHost(h: TestHost): Promise<void> {
  await h.svc.createNetwork({
    ID: NET_NAT,
    Name: 'MyNatNetwork',
    Type: 'NAT',
    Dns: { ServerList: ['192.0.2.53'], Search: ['corp.example'] },
    Ipams: [{ Type: 'Static', Subnets: [{ IpAddressPrefix: '172.18.0.0/24' }] }],
  });
  await h.svc.createNetwork({
    ID: NET_TWO,
    Name: 'SecondNat',
    Type: 'NAT',
    Ipams: [{ Subnets: [{ IpAddressPrefix: '172.19.0.0/24' }] }],
    // leaves the host by eth0 only; its endpoints take their MACs from the pool; its gateway is its DNS
    // server (DNS to it is open); two HostAccess policies whose ranges overlap
    Dns: { ServerList: ['172.19.0.1'] },
    Policies: [
      { Type: 'NetAdapterName', Settings: { NetworkAdapterName: 'eth0' } },
      { Type: 'HostAccess', Settings: { Ports: '8080-8090,53', Protocols: '6,17' } },
      { Type: 'HostAccess', Settings: { Ports: '8085-8095', Protocols: 'tcp' } },
    ],
    MacPool: { Ranges: [{ StartMacAddress: '00-15-5D-52-C0-00', EndMacAddress: '00-15-5D-52-CF-FF' }] },
  });
  await h.svc.createNetwork({ ID: NET_INT, Name: 'Isolated', Type: 'NAT', Internal: true, Ipams: [{ Subnets: [{ IpAddressPrefix: '172.20.0.0/24' }] }] });
  await h.svc.createNamespace({ ID: NS_WEB, Path: '/run/netns/web' });
  await h.svc.createNamespace({ ID: NS_CLI, Path: '/run/netns/cli' });
  await h.svc.createEndpoint({
    ID: EP_WEB,
    Name: 'web',
    HostComputeNetwork: NET_NAT,
    HostComputeNamespace: NS_WEB,
    Policies: [
      portMapping({ Protocol: 6, InternalPort: 80, ExternalPort: 8080 }),
      portMapping({ Protocol: 17, InternalPort: 53, ExternalPort: 5353 }),
      portMapping({ Protocol: 6, InternalPort: 90, ExternalPort: 9090, VIP: '192.0.2.1' }),
      portMapping({ Protocol: 132, InternalPort: 3868, ExternalPort: 3868 }),
      portMapping({ Protocol: 6, InternalPort: 7000, ExternalPort: 7000, PortCount: 3 }),
      portMapping({ Protocol: 6, InternalPort: 443, ExternalPort: 0 }),
    ],
  });
  await h.svc.createEndpoint({
    ID: EP_CLI,
    Name: 'cli',
    HostComputeNetwork: 'SecondNat',
    HostComputeNamespace: '/run/netns/cli',
    Routes: [{ DestinationPrefix: '10.50.0.0/16', NextHop: '172.19.0.9' }],
    Policies: [
      { Type: 'ACL', Settings: { Id: 'web-in', Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: '80,8000-8080', RemoteAddresses: '192.0.2.0/24,198.51.100.7', Priority: 100 } },
      { Type: 'ACL', Settings: { Id: 'no-smtp', Action: 'Block', Direction: 'Out', Protocols: '6', RemotePorts: '25', Priority: 100 } },
      { Type: 'ACL', Settings: { Id: 'dns', Action: 'Allow', Direction: 'Out', Protocols: '17,6', RemotePorts: '53', Priority: 200 } },
      { Type: 'ACL', Settings: { Id: 'lab', Action: 'Pass', Direction: 'Out', RemoteAddresses: '10.50.0.0/16', Priority: 300 } },
      { Type: 'QOS', Settings: { MaximumOutgoingBandwidthInBytes: 6250000, MaximumIncomingBandwidthInBytes: 12500000 } },
      { Type: 'OutBoundNAT', Settings: { Exceptions: ['10.50.0.0/16', '203.0.113.9'], VirtualIP: '192.0.2.1' } },
      { Type: 'SDNRoute', Settings: { DestinationPrefix: '10.60.0.0/16', NextHop: '172.19.0.10' } },
    ],
  });
  await h.svc.createEndpoint({ ID: EP_DB, Name: 'db', HostComputeNetwork: NET_INT, HostComputeNamespace: NS_CLI, InterfaceName: 'eth1' });
}
