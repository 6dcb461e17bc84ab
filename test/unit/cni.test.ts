/** The CNI plugin's pure parts: request validation and the CNI ⇄ HCN translation (no hostd, no root). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { parseRequest, versionOf } from '../../src/cni/config.js';
import { CniError } from '../../src/cni/errors.js';
import { attachmentName, endpointRequest, forVersion, networkRequest, qosPolicy, rangeCandidates, resultOf, type EndpointDoc } from '../../src/cni/translate.js';

const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
const conf = { cniVersion: '1.1.0', name: 'mynet', type: 'switchyard', subnet: '10.88.0.0/16' };
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function codeOf(f: () => unknown): number | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof CniError) return e.code;
    throw e;
  }
  return undefined;
}

describe('CNI request validation', () => {
  it('accepts a runtime\'s request and reads runtimeConfig', () => {
    const req = parseRequest(
      { ...env, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=p;IP=10.88.0.9' },
      JSON.stringify({
        ...conf,
        runtimeConfig: {
          portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'TCP', hostIP: '0.0.0.0' }, { hostPort: 53, containerPort: 53, protocol: 'udp', hostIP: '::1' }],
          dns: { nameservers: ['192.0.2.53'] },
        },
      }),
    );
    assert.deepEqual(req.conf.portMappings, [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], '0.0.0.0 means every address; IPv6 host addresses are skipped');
    assert.deepEqual(req.conf.ips, ['10.88.0.9']);
    assert.deepEqual(req.conf.runtimeDns, { nameservers: ['192.0.2.53'], search: [], options: [] });
  });

  it('names the spec\'s codes for what is wrong', () => {
    assert.equal(codeOf(() => parseRequest({ ...env, CNI_COMMAND: 'NOPE' }, JSON.stringify(conf))), 4);
    assert.equal(codeOf(() => parseRequest({ ...env, CNI_IFNAME: 'a/b' }, JSON.stringify(conf))), 4);
    assert.equal(codeOf(() => parseRequest({ ...env, CNI_NETNS: '/run/netns/../x' }, JSON.stringify(conf))), 4);
    assert.equal(codeOf(() => parseRequest(env, 'not json')), 6);
    assert.equal(codeOf(() => parseRequest(env, JSON.stringify({ ...conf, cniVersion: '0.2.0' }))), 1);
    assert.equal(codeOf(() => parseRequest(env, JSON.stringify({ ...conf, socket: 'relative.sock' }))), 7);
    assert.equal(codeOf(() => parseRequest(env, JSON.stringify({ ...conf, runtimeConfig: { bandwidth: { egressRate: -1 } } }))), 7);
    assert.equal(codeOf(() => parseRequest(env, JSON.stringify({ ...conf, runtimeConfig: { dns: { nameservers: ['a b'] } } }))), 7);
    assert.equal(codeOf(() => parseRequest({ CNI_COMMAND: 'GC', CNI_PATH: '/x' }, JSON.stringify({ ...conf, cniVersion: '1.0.0' }))), 1);
    assert.equal(codeOf(() => parseRequest({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'a', CNI_IFNAME: 'eth0', CNI_PATH: '/x' }, JSON.stringify(conf))), undefined, 'DEL needs no CNI_NETNS');
  });

  it('takes the newest version both sides speak from cniVersions (spec 1.1) when no cniVersion is chosen', () => {
    const { cniVersion: _, ...unversioned } = conf;
    assert.equal(parseRequest(env, JSON.stringify({ ...unversioned, cniVersions: ['0.4.0', '1.0.0', '9.0.0'] })).conf.cniVersion, '1.0.0');
    assert.equal(parseRequest(env, JSON.stringify({ ...conf, cniVersion: '0.4.0', cniVersions: ['0.4.0', '1.1.0'] })).conf.cniVersion, '0.4.0', 'a chosen cniVersion wins');
    assert.equal(versionOf(JSON.stringify({ cniVersions: ['1.0.0', '0.3.1'] })), '1.0.0');
    assert.equal(codeOf(() => parseRequest(env, JSON.stringify({ ...unversioned, cniVersions: ['0.2.0', '9.0.0'] }))), 1);
    assert.equal(codeOf(() => parseRequest(env, JSON.stringify({ ...unversioned, cniVersions: '1.0.0' }))), 7);
    assert.equal(codeOf(() => parseRequest(env, JSON.stringify(unversioned))), 7);
  });
});

describe('CNI ⇄ HCN translation', () => {
  it('gives each attachment a stable endpoint name from (network, container, interface)', async () => {
    const a = await attachmentName(sha, 'n', 'c1', 'eth0');
    assert.match(a, /^cni-[0-9a-f]{32}$/);
    assert.equal(a, await attachmentName(sha, 'n', 'c1', 'eth0'));
    assert.notEqual(a, await attachmentName(sha, 'n', 'c1', 'eth1'));
    assert.notEqual(a, await attachmentName(sha, 'm', 'c1', 'eth0'));
  });

  it('turns bandwidth (bits/s) into one QOS policy in bytes/s, egress as HCN\'s outgoing', () => {
    assert.deepEqual(qosPolicy({ egressRate: 8_000_000, egressBurst: 80_000, ingressRate: 16_000_000 }), {
      Type: 'QOS',
      Settings: { MaximumOutgoingBandwidthInBytes: 1_000_000, OutgoingBurstInBytes: 10_000, MaximumIncomingBandwidthInBytes: 2_000_000 },
    });
    assert.equal(qosPolicy({}), undefined);
    assert.equal(qosPolicy(undefined), undefined);
  });

  it('builds the network and endpoint requests hostd takes', () => {
    const req = parseRequest(
      env,
      JSON.stringify({
        ...conf,
        mtu: 1400,
        AdditionalArgs: [{ Name: 'EndpointPolicy', Value: { Type: 'ACL', Settings: { Action: 'Block' } } }],
        runtimeConfig: { portMappings: [{ hostPort: 8443, containerPort: 443, protocol: 'tcp', hostIP: '192.0.2.3' }] },
      }),
    );
    assert.deepEqual(networkRequest(req.conf), {
      Name: 'mynet',
      Type: 'NAT',
      Ipams: [{ Type: 'Static', Subnets: [{ IpAddressPrefix: '10.88.0.0/16' }] }],
      MTU: 1400,
      SchemaVersion: { Major: 2, Minor: 0 },
    });
    assert.deepEqual(endpointRequest(req, 'cni-x', undefined), {
      Name: 'cni-x',
      HostComputeNetwork: 'mynet',
      HostComputeNamespace: '/run/netns/x',
      AdoptNamespace: true,
      InterfaceName: 'eth0',
      Policies: [
        { Type: 'PortMapping', Settings: { Protocol: 6, InternalPort: 443, ExternalPort: 8443, VIP: '192.0.2.3' } },
        { Type: 'ACL', Settings: { Action: 'Block' } },
      ],
      SchemaVersion: { Major: 2, Minor: 0 },
    });
  });

  it('renders the CNI result, appending to a prevResult, in the version asked for', () => {
    const ep: EndpointDoc = {
      ID: 'id',
      Name: 'cni-x',
      HostComputeNetwork: 'n',
      IpConfigurations: [{ IpAddress: '10.88.0.2', PrefixLength: 16 }],
      Routes: [{ NextHop: '10.88.0.1', DestinationPrefix: '0.0.0.0/0' }],
      Dns: { ServerList: ['192.0.2.53'], Suffix: 'corp.example' },
      MacAddress: '02-53-0A-58-00-02',
      InterfaceName: 'eth0',
      HostIfName: 'sy-ep-1234abcd',
      NamespacePath: '/run/netns/x',
    };
    const req = parseRequest(env, JSON.stringify({ ...conf, prevResult: { cniVersion: '1.1.0', interfaces: [{ name: 'lo0' }], ips: [] } }));
    const withDns = parseRequest(env, JSON.stringify({ ...conf, runtimeConfig: { dns: { nameservers: ['192.0.2.9'], search: ['a.example'] } } }));
    assert.deepEqual(resultOf(ep, withDns).dns, { nameservers: ['192.0.2.9'], search: ['a.example'] }, 'the runtime\'s dns wins');
    assert.deepEqual(resultOf(ep, req), {
      cniVersion: '1.1.0',
      interfaces: [{ name: 'lo0' }, { name: 'sy-ep-1234abcd' }, { name: 'eth0', mac: '02:53:0a:58:00:02', sandbox: '/run/netns/x' }],
      ips: [{ address: '10.88.0.2/16', gateway: '10.88.0.1', interface: 2 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.88.0.1' }],
      dns: { nameservers: ['192.0.2.53'], domain: 'corp.example' },
    });
    assert.equal(forVersion({ ips: [{ address: '10.0.0.2/24' }] }, '0.3.1').ips![0]!.version, '4');
  });

  it('lists the addresses of an ipRange, without the network\'s own', () => {
    assert.deepEqual(rangeCandidates('10.0.0.0/29', undefined, undefined, '10.0.0.1'), ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
    assert.deepEqual(rangeCandidates('10.0.0.0/24', '10.0.0.250', '10.0.0.255', undefined), ['10.0.0.250', '10.0.0.251', '10.0.0.252', '10.0.0.253', '10.0.0.254']);
  });
});
