/**
 * The CNI plugin's uplink modes (l2bridge, transparent, l2tunnel) without root: `master` (as the
 * reference macvlan plugin names its parent) or a raw NetAdapterName policy binds the network to a
 * host adapter, the config's subnet and gateway become the network's, and portMappings are refused
 * with the spec's "unsupported" code before any request reaches hostd.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequest } from '../../src/cni/config.js';
import { CniError } from '../../src/cni/errors.js';
import { networkRequest } from '../../src/cni/translate.js';

const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
const conf = { cniVersion: '1.1.0', name: 'lan', type: 'switchyard', mode: 'l2bridge', master: 'eth1', subnet: '10.0.0.0/24', gateway: '10.0.0.1' };
const adapter = { Type: 'NetAdapterName', Settings: { NetworkAdapterName: 'eth1' } };

function refusal(f: () => unknown): CniError {
  try {
    f();
  } catch (e) {
    if (e instanceof CniError) return e;
    throw e;
  }
  assert.fail('expected a CNI error');
}

describe('CNI uplink modes', () => {
  it('makes the HCN network of mode l2bridge with master, subnet and gateway', () => {
    const req = parseRequest(env, JSON.stringify(conf));
    assert.deepEqual(networkRequest(req.conf), {
      Name: 'lan',
      Type: 'L2Bridge',
      Ipams: [{ Type: 'Static', Subnets: [{ IpAddressPrefix: '10.0.0.0/24', Routes: [{ NextHop: '10.0.0.1', DestinationPrefix: '0.0.0.0/0' }] }] }],
      Policies: [adapter],
      SchemaVersion: { Major: 2, Minor: 0 },
    });
    for (const [mode, type] of [['transparent', 'Transparent'], ['l2tunnel', 'L2Tunnel'], ['L2Bridge', 'L2Bridge']]) {
      assert.equal(networkRequest(parseRequest(env, JSON.stringify({ ...conf, mode })).conf).Type, type);
    }
    // no subnet: hostd takes the adapter's
    const { subnet: _s, gateway: _g, ...bare } = conf;
    assert.equal(networkRequest(parseRequest(env, JSON.stringify(bare)).conf).Ipams, undefined);
  });

  it('takes the adapter as a raw NetworkPolicy too, and one adapter only', () => {
    const { master: _m, ...noMaster } = conf;
    const raw = { ...noMaster, AdditionalArgs: [{ Name: 'NetworkPolicy', Value: adapter }] };
    assert.deepEqual(networkRequest(parseRequest(env, JSON.stringify(raw)).conf).Policies, [adapter]);
    assert.deepEqual(networkRequest(parseRequest(env, JSON.stringify({ ...raw, master: 'eth1' })).conf).Policies, [adapter]);
    assert.match(refusal(() => parseRequest(env, JSON.stringify({ ...raw, master: 'eth2' }))).message, /different adapters/);
    const missing = refusal(() => parseRequest(env, JSON.stringify(noMaster)));
    assert.equal(missing.code, 7);
    assert.match(missing.message, /mode l2bridge binds the network to a host adapter: give it as "master"/);
    // DEL of such a config still goes through (nothing was made by a refused ADD)
    assert.equal(parseRequest({ ...env, CNI_COMMAND: 'DEL' }, JSON.stringify(noMaster)).command, 'DEL');
    assert.equal(refusal(() => parseRequest(env, JSON.stringify({ ...conf, master: 'eth1; reboot' }))).code, 7);
  });

  it('refuses portMappings on uplink modes with code 2, and keeps them on nat', () => {
    const runtimeConfig = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] };
    for (const mode of ['l2bridge', 'transparent', 'l2tunnel']) {
      const e = refusal(() => parseRequest(env, JSON.stringify({ ...conf, mode, runtimeConfig })));
      assert.equal(e.code, 2);
      assert.match(e.message, new RegExp(`portMappings are not supported in mode ${mode}: its containers are on the physical network`));
    }
    // the capability alone (an empty list, as runtimes pass it when no port is published) is fine
    assert.deepEqual(parseRequest(env, JSON.stringify({ ...conf, runtimeConfig: { portMappings: [] } })).conf.portMappings, []);
    assert.equal(parseRequest(env, JSON.stringify({ ...conf, mode: 'nat', master: undefined, runtimeConfig })).conf.portMappings.length, 1);
  });
});
