/**
 * The front doors' overlay networks without root: Docker's `sdnoverlay` driver (`-o
 * com.docker.network.windowsshim.vsid=N -o switchyard.provider-address=IP`, optional VXLAN port and
 * DR MAC) and CNI's `"mode": "overlay"` (`vsid`, `providerAddress`, as win-overlay's config) become
 * the same HCN Overlay document hostd takes; what they lack or what belongs to other modes is refused
 * before hostd is asked; port mappings are refused as on every non-NAT network.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequest } from '../../src/cni/config.js';
import { refusal } from './cni-refusal.js';
import { networkRequest as cniNetwork } from '../../src/cni/translate.js';
import { SyError } from '../../src/errors.js';
import type { CreateNetworkRequest } from '../../src/docker/messages.js';
import { NETWORK_DRIVERS, networkDoc } from '../../src/docker/translate.js';

const SHIM = 'com.docker.network.windowsshim.';
const NET = 'd'.repeat(8) + '4'.repeat(56);
const create = (opts: Record<string, string>): CreateNetworkRequest => ({
  NetworkID: NET,
  Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': opts },
  IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.1.0.0/24', Gateway: '10.1.0.1/24' }],
  IPv6Data: [],
});
const SUBNETS = [{ IpAddressPrefix: '10.1.0.0/24', Routes: [{ NextHop: '10.1.0.1', DestinationPrefix: '0.0.0.0/0' }], Policies: [{ Type: 'VSID', Settings: { IsolationId: 4096 } }] }];
const PA = { Type: 'ProviderAddress', Settings: { ProviderAddress: '10.0.0.11' } };

function throwsCode(fn: () => unknown, code: string, message: RegExp) {
  assert.throws(fn, (e: unknown) => e instanceof SyError && e.code === code && message.test(e.message), `expected ${code} ${message}`);
}

describe('Docker sdnoverlay', () => {
  it('is served, and makes an Overlay network with the VSID on its subnet and the provider address', () => {
    assert.equal(NETWORK_DRIVERS.sdnoverlay, 'Overlay');
    const doc = networkDoc('sdnoverlay', create({ [`${SHIM}vsid`]: '4096', 'switchyard.provider-address': '10.0.0.11', 'switchyard.vxlan-port': '4790', 'switchyard.dr-mac': '02-53-44-52-4D-44' }));
    assert.equal(doc.Type, 'Overlay');
    assert.deepEqual(doc.Ipams, [{ Type: 'Static', Subnets: SUBNETS }]);
    assert.deepEqual(doc.Policies, [PA, { Type: 'VxlanPort', Settings: { Port: 4790 } }, { Type: 'DrMacAddress', Settings: { Address: '02-53-44-52-4D-44' } }]);
  });

  it('needs the VSID and the provider address, and keeps overlay options to sdnoverlay', () => {
    throwsCode(() => networkDoc('sdnoverlay', create({ 'switchyard.provider-address': '10.0.0.11' })), 'SY_BAD_REQUEST', /needs its VSID/);
    throwsCode(() => networkDoc('sdnoverlay', create({ [`${SHIM}vsid`]: '4096' })), 'SY_BAD_REQUEST', /provider address/);
    throwsCode(() => networkDoc('sdnoverlay', create({ [`${SHIM}vsid`]: '40x96', 'switchyard.provider-address': '10.0.0.11' })), 'SY_BAD_REQUEST', /must be a number/);
    throwsCode(() => networkDoc('nat', create({ 'switchyard.provider-address': '10.0.0.11' })), 'SY_NOT_SUPPORTED', /not supported on nat networks.*sdnoverlay/);
    throwsCode(() => networkDoc('l2bridge', create({ [`${SHIM}interface`]: 'eth1', 'switchyard.vxlan-port': '4789' })), 'SY_NOT_SUPPORTED', /on l2bridge networks/);
  });
});

describe('CNI mode overlay', () => {
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
  const conf = { cniVersion: '1.1.0', name: 'ov', type: 'switchyard', mode: 'overlay', subnet: '10.1.0.0/24', gateway: '10.1.0.1', vsid: 4096, providerAddress: '10.0.0.11' };

  it('makes the same Overlay network', () => {
    const req = cniNetwork(parseRequest(env, JSON.stringify(conf)).conf);
    assert.equal(req.Type, 'Overlay');
    assert.deepEqual(req.Ipams, [{ Type: 'Static', Subnets: SUBNETS }]);
    assert.deepEqual(req.Policies, [PA]);
    // the provider address as a raw NetworkPolicy, as the Windows plugins pass HNS policies
    const { providerAddress: _pa, ...raw } = conf;
    const viaPolicy = cniNetwork(parseRequest(env, JSON.stringify({ ...raw, AdditionalArgs: [{ Name: 'NetworkPolicy', Value: PA }] })).conf);
    assert.deepEqual(viaPolicy.Policies, [PA]);
  });

  it('refuses what an overlay ADD lacks, and overlay keys on other modes, with code 7; portMappings with code 2', () => {
    const { vsid: _v, ...noVsid } = conf;
    const { providerAddress: _p, ...noPa } = conf;
    assert.match(refusal(() => parseRequest(env, JSON.stringify(noVsid))).message, /needs the subnet's "vsid"/);
    assert.match(refusal(() => parseRequest(env, JSON.stringify(noPa))).message, /needs this host's "providerAddress"/);
    for (const bad of [{ vsid: 4095 }, { vsid: 16_777_215 }, { vsid: '4096' }, { providerAddress: '10.0.0.300' }, { mode: 'nat' }]) {
      assert.equal(refusal(() => parseRequest(env, JSON.stringify({ ...conf, ...bad }))).code, 7, JSON.stringify(bad));
    }
    // DEL of such a config still goes through (nothing was made by a refused ADD)
    assert.equal(parseRequest({ ...env, CNI_COMMAND: 'DEL' }, JSON.stringify(noVsid)).command, 'DEL');
    const e = refusal(() => parseRequest(env, JSON.stringify({ ...conf, runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } })));
    assert.equal(e.code, 2);
    assert.match(e.message, /portMappings are not supported in mode overlay: its containers are in a virtual network/);
  });
});
