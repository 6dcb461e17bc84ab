/**
 * The controller's deciding code without a store or a server: address roles and allocation order,
 * MAC spellings and pools, ACL fields, etag preconditions, the envelope (tenant stamping, ids kept
 * across replaces) and the schemas naming the field a bad body got wrong.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { firstFree, firstFreeInRanges, formatMac, hostRange, macRange, parseMac, reservedRole, staticAddress } from '../../src/controller/allocation.js';
import { parseRef } from '../../src/controller/check-context.js';
import { buildDoc, checkPreconditions } from '../../src/controller/document.js';
import { checkAddressPrefix, checkPortRange } from '../../src/controller/kinds/access-control-lists.js';
import { KINDS } from '../../src/controller/kinds/index.js';
import { networkInterfaces } from '../../src/controller/kinds/network-interfaces.js';
import { virtualNetworks } from '../../src/controller/kinds/virtual-networks.js';
import { collectRefs } from '../../src/controller/references.js';
import { ipToInt, parseCidr } from '../../src/model/ipv4.js';
import { parseDoc } from '../../src/hcn/schema.js';
import { SyError } from '../../src/errors.js';

const code = (c: string, msg?: RegExp) => (e: unknown) => e instanceof SyError && e.code === c && (!msg || msg.test(e.message));

describe('address allocation', () => {
  const s24 = parseCidr('10.0.1.0/24');
  it('reserves the network, gateway (first host) and broadcast addresses', () => {
    assert.equal(reservedRole(s24, ipToInt('10.0.1.0')), 'network');
    assert.equal(reservedRole(s24, ipToInt('10.0.1.1')), 'gateway');
    assert.equal(reservedRole(s24, ipToInt('10.0.1.255')), 'broadcast');
    assert.equal(reservedRole(s24, ipToInt('10.0.1.2')), undefined);
  });
  it('hands out from after the gateway to before broadcast', () => {
    assert.deepEqual(hostRange(s24), { first: ipToInt('10.0.1.2'), last: ipToInt('10.0.1.254') });
    assert.deepEqual(hostRange(parseCidr('10.0.0.0/30')), { first: ipToInt('10.0.0.2'), last: ipToInt('10.0.0.2') });
    assert.equal(hostRange(parseCidr('10.0.0.0/31')), undefined);
    assert.equal(hostRange(parseCidr('10.0.0.7/32')), undefined);
  });
  it('takes the lowest free address, over ranges in order', () => {
    assert.equal(firstFree(2, 5, new Set([2, 3, 5])), 4);
    assert.equal(firstFree(2, 3, new Set([2, 3])), undefined);
    assert.equal(firstFreeInRanges([{ first: 10, last: 11 }, { first: 20, last: 21 }], new Set([10, 11, 20])), 21);
  });
  it('checks a static address against its subnet and names the field', () => {
    assert.equal(staticAddress('10.0.1.9', '10.0.1.0/24', 'f'), ipToInt('10.0.1.9'));
    assert.throws(() => staticAddress('10.0.2.9', '10.0.1.0/24', '/x/privateIPAddress'), code('SY_INVALID_ADDRESS', /^\/x\/privateIPAddress: .*outside/));
    assert.throws(() => staticAddress('10.0.1.1', '10.0.1.0/24', 'f'), code('SY_INVALID_ADDRESS', /gateway/));
    assert.throws(() => staticAddress('10.0.1.255', '10.0.1.0/24', 'f'), code('SY_INVALID_ADDRESS', /broadcast/));
    assert.throws(() => staticAddress('10.0.1', '10.0.1.0/24', 'f'), code('SY_INVALID_ADDRESS', /not an IPv4/));
  });
});

describe('MAC addresses', () => {
  it('reads both spellings and writes MS-NCNBI\'s', () => {
    assert.equal(parseMac('00-1d-d8-b7-1c-00', 'f'), parseMac('00:1D:D8:B7:1C:00', 'f'));
    assert.equal(formatMac(parseMac('00:1d:d8:b7:1c:0a', 'f')), '00-1D-D8-B7-1C-0A');
    assert.throws(() => parseMac('00-1D-D8-B7-1C', '/properties/privateMacAddress'), code('SY_BAD_REQUEST', /privateMacAddress/));
  });
  it('refuses pools that are reversed, multicast or cross a first octet', () => {
    assert.deepEqual(macRange('00-00-00-00-00-01', '00-00-00-00-00-03', 'p'), { first: 1, last: 3 });
    assert.throws(() => macRange('00-00-00-00-00-03', '00-00-00-00-00-01', 'p'), code('SY_BAD_REQUEST', /comes after/));
    assert.throws(() => macRange('01-00-00-00-00-00', '01-00-00-00-00-09', 'p'), code('SY_BAD_REQUEST', /multicast/));
    assert.throws(() => macRange('02-00-00-00-00-00', '04-00-00-00-00-00', 'p'), code('SY_BAD_REQUEST', /first octet/));
  });
});

describe('ACL rule fields', () => {
  it('takes "*", a port or a range, and addresses or prefixes', () => {
    for (const ok of ['*', '0', '80', '8000-8080', '65535']) checkPortRange(ok, 'f');
    for (const bad of ['', '-1', '80-', '90-80', '65536', '1-70000', 'http', ' 80']) assert.throws(() => checkPortRange(bad, 'f'), code('SY_INVALID_POLICY'), bad);
    for (const ok of ['*', '10.0.0.1', '10.0.0.0/8']) checkAddressPrefix(ok, 'f');
    for (const bad of ['10.0.0.1/8', '10.0.0.0/33', 'any', '::/0']) assert.throws(() => checkAddressPrefix(bad, 'f'), bad);
  });
});

describe('etag preconditions', () => {
  it('If-Match takes the weak or strong form, a list or "*"; If-None-Match "*" refuses what exists', () => {
    checkPreconditions({ ifMatch: 'W/"7"' }, 7, 'x');
    checkPreconditions({ ifMatch: '"7"' }, 7, 'x');
    checkPreconditions({ ifMatch: 'W/"3", W/"7"' }, 7, 'x');
    checkPreconditions({ ifMatch: '*' }, 7, 'x');
    checkPreconditions({ ifNoneMatch: '*' }, undefined, 'x');
    assert.throws(() => checkPreconditions({ ifMatch: 'W/"6"' }, 7, 'x'), code('SY_PRECONDITION_FAILED', /W\/"7"/));
    assert.throws(() => checkPreconditions({ ifMatch: '*' }, undefined, 'x'), code('SY_PRECONDITION_FAILED'));
    assert.throws(() => checkPreconditions({ ifNoneMatch: '*' }, 7, 'x'), code('SY_PRECONDITION_FAILED'));
  });
});

describe('the envelope', () => {
  const body = { properties: { addressSpace: { addressPrefixes: ['10.0.0.0/16'] }, subnets: [{ resourceId: 's1', properties: { addressPrefix: '10.0.1.0/24', ipConfigurations: [{ resourceRef: '/x' }] } }] } };
  it('stamps the tenant, makes refs and ids, drops read-only fields, keeps ids across a replace', () => {
    const d = buildDoc(virtualNetworks, 'v1', body, undefined, { tenant: 't1', role: 'tenant' });
    assert.equal(d.resourceRef, '/virtualNetworks/v1');
    assert.equal(d.resourceMetadata.tenantId, 't1');
    const s = (d.properties.subnets as { resourceRef: string; instanceId: string; properties: Record<string, unknown> }[])[0]!;
    assert.equal(s.resourceRef, '/virtualNetworks/v1/subnets/s1');
    assert.equal(s.properties.ipConfigurations, undefined, 'read-only back refs are not stored');
    assert.equal(s.properties.provisioningState, 'Succeeded');
    const again = buildDoc(virtualNetworks, 'v1', body, d, { tenant: 'admin', role: 'admin' });
    assert.equal(again.instanceId, d.instanceId);
    assert.equal((again.properties.subnets as { instanceId: string }[])[0]!.instanceId, s.instanceId);
    assert.equal(again.resourceMetadata.tenantId, 't1', 'the tenant is kept from the creation');
  });
  it('refuses a body id unlike the URL\'s, another tenant from a tenant token, a tenant change, duplicate child ids', () => {
    assert.throws(() => buildDoc(virtualNetworks, 'v1', { ...body, resourceId: 'v2' }, undefined, { tenant: 't', role: 'admin' }), code('SY_BAD_REQUEST', /^\/resourceId/));
    assert.throws(() => buildDoc(virtualNetworks, 'v1', { ...body, resourceMetadata: { tenantId: 'x' } }, undefined, { tenant: 't', role: 'tenant' }), code('SY_BAD_REQUEST', /tenantId/));
    const d = buildDoc(virtualNetworks, 'v1', { ...body, resourceMetadata: { tenantId: 'x' } }, undefined, { tenant: 'admin', role: 'admin' });
    assert.equal(d.resourceMetadata.tenantId, 'x', 'an admin makes resources for a tenant');
    assert.throws(() => buildDoc(virtualNetworks, 'v1', { ...body, resourceMetadata: { tenantId: 'y' } }, d, { tenant: 'admin', role: 'admin' }), code('SY_BAD_REQUEST', /cannot change/));
    const two = { properties: { ...body.properties, subnets: [body.properties.subnets[0]!, body.properties.subnets[0]!] } };
    assert.throws(() => buildDoc(virtualNetworks, 'v1', two, undefined, { tenant: 't', role: 'tenant' }), code('SY_BAD_REQUEST', /subnets\/1\/resourceId/));
  });
  it('finds references by shape, with the child that holds them as their source', () => {
    const nic = buildDoc(
      networkInterfaces,
      'n1',
      { properties: { server: { resourceRef: '/servers/h1' }, ipConfigurations: [{ resourceId: 'c1', properties: { subnet: { resourceRef: '/virtualNetworks/v1/subnets/s1' } } }] } },
      undefined,
      { tenant: 't', role: 'tenant' },
    );
    assert.deepEqual(collectRefs(networkInterfaces, nic), [
      { source: '/networkInterfaces/n1', target: '/servers/h1', field: '/properties/server' },
      { source: '/networkInterfaces/n1/ipConfigurations/c1', target: '/virtualNetworks/v1/subnets/s1', field: '/properties/ipConfigurations/0/properties/subnet' },
    ]);
    assert.deepEqual(parseRef('/virtualNetworks/v1/subnets/s1'), { collection: 'virtualNetworks', id: 'v1', child: 'subnets', childId: 's1' });
    for (const bad of ['', '/', 'virtualNetworks/v1', '/virtualNetworks', '/a/b/c', '/a//b']) assert.equal(parseRef(bad), undefined, bad);
  });
});

describe('the schemas', () => {
  const vnet = KINDS.find((k) => k.collection === 'virtualNetworks')!;
  it('name the field a body got wrong', () => {
    const bad = (doc: unknown, where: RegExp) => assert.throws(() => parseDoc(vnet.body, doc, 'virtualNetworks body'), code('SY_BAD_REQUEST', where));
    bad({ properties: { addressSpace: { addressPrefixes: [7] } } }, /\/properties\/addressSpace\/addressPrefixes\/0/);
    bad({ properties: { addressSpace: { addressPrefixes: ['10.0.0.0/8'] }, subnets: [{ properties: { addressPrefix: '10.0.0.0/24' } }] } }, /\/properties\/subnets\/0/);
    bad({ properties: { addressSpace: { addressPrefixes: ['10.0.0.0/8'] }, colour: 'red' } }, /\/properties\/colour/);
    bad({ properties: { addressSpace: { addressPrefixes: ['x'.repeat(65)] } } }, /addressPrefixes\/0/);
    bad({ properties: { addressSpace: { addressPrefixes: Array.from({ length: 65 }, () => '10.0.0.0/8') } } }, /addressPrefixes/);
    bad({ properties: { addressSpace: { addressPrefixes: ['10.0.0.0/8'] }, logicalNetwork: { resourceRef: '/servers/h1' } } }, /logicalNetwork\/resourceRef/);
  });
  it('accept a document as a GET returns it (read-only fields included)', () => {
    parseDoc(vnet.body, {
      resourceId: 'v1',
      resourceRef: '/virtualNetworks/v1',
      instanceId: 'x',
      etag: 'W/"3"',
      resourceMetadata: { tenantId: 't' },
      properties: {
        provisioningState: 'Succeeded',
        addressSpace: { addressPrefixes: ['10.0.0.0/16'] },
        subnets: [{ resourceId: 's1', resourceRef: '/virtualNetworks/v1/subnets/s1', instanceId: 'y', etag: 'W/"3"', properties: { addressPrefix: '10.0.1.0/24', provisioningState: 'Succeeded', ipConfigurations: [] } }],
      },
    }, 'virtualNetworks body');
  });
});
