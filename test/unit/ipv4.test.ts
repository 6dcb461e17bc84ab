/** IPv4 address and prefix math. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cidrContains, cidrsOverlap, cidrToString, ipToInt, isIPv4, parseCidr } from '../../src/model/ipv4.js';

const code = (c: string) => (err: unknown) => (err as { code?: string }).code === c;

test('parseCidr reads a canonical prefix', () => {
  assert.deepEqual(parseCidr('172.18.0.0/24'), { base: 0xac120000, prefix: 24 });
  assert.equal(cidrToString(parseCidr('10.0.0.0/8')), '10.0.0.0/8');
  assert.deepEqual(parseCidr('0.0.0.0/0'), { base: 0, prefix: 0 });
  assert.deepEqual(parseCidr('255.255.255.255/32'), { base: 0xffffffff, prefix: 32 });
});

test('parseCidr refuses host bits and suggests the network address', () => {
  assert.throws(() => parseCidr('172.18.0.5/24'), (err: Error) => code('SY_INVALID_SUBNET')(err) && err.message.includes('"172.18.0.0/24"'));
});

test('parseCidr refuses what is not a prefix', () => {
  for (const s of ['300.1.1.0/24', '172.18.0.0', '172.18.0.0/33', '172.18.0.0/', '172.018.0.0/24', ' 172.18.0.0/24', '172.18.0.0/24\n', '::/0']) {
    assert.throws(() => parseCidr(s), code('SY_INVALID_SUBNET'), JSON.stringify(s));
  }
});

test('overlap: containment and adjacency', () => {
  const c = (s: string) => parseCidr(s);
  assert.ok(cidrsOverlap(c('172.18.0.0/24'), c('172.18.0.0/24')));
  assert.ok(cidrsOverlap(c('172.16.0.0/12'), c('172.18.0.0/24')));
  assert.ok(cidrsOverlap(c('172.18.0.128/25'), c('172.18.0.0/24')));
  assert.equal(cidrsOverlap(c('172.18.0.0/24'), c('172.18.1.0/24')), false);
  assert.equal(cidrsOverlap(c('172.18.0.0/25'), c('172.18.0.128/25')), false);
  assert.ok(cidrContains(c('172.18.0.0/24'), ipToInt('172.18.0.255')));
  assert.equal(cidrContains(c('172.18.0.0/24'), ipToInt('172.18.1.0')), false);
});

test('isIPv4 takes four plain decimal parts only', () => {
  assert.ok(isIPv4('1.2.3.4'));
  assert.ok(isIPv4('0.0.0.0'));
  for (const s of ['01.2.3.4', '1.2.3.04', '1.2.3', '1.2.3.4.5', '1.2.3.256', '0x1.2.3.4', '1.2.3.4 ', '', '::1']) {
    assert.equal(isIPv4(s), false, JSON.stringify(s));
  }
});
