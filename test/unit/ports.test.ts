/** Port mappings: parsing HCN PortMapping settings, conflicts, and choosing ephemeral host ports. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ListeningSocket } from '../../src/dataplane/dataplane.js';
import { EPHEMERAL_FIRST, EPHEMERAL_LAST, mappingsClash, parsePortMapping, publishedIn, resolvePortMappings, type PortRequest } from '../../src/model/ports.js';

const req = (o: Partial<PortRequest> = {}): PortRequest => ({ protocol: 6, internalPort: 80, externalPort: 0, count: 1, flags: 0, ...o });
const resolve = (requests: PortRequest[], taken: PortRequest[] = [], listening: ListeningSocket[] = [], cursor = EPHEMERAL_FIRST) =>
  resolvePortMappings(requests, publishedIn(taken), listening, cursor);
const ports = (r: ReturnType<typeof resolve>) => r.mappings.map((m) => m.externalPort);
const code = (c: string) => (err: unknown) => (err as { code?: string }).code === c;

test('ephemeral ports are distinct and taken from the cursor on', () => {
  const r = resolve([req(), req({ internalPort: 81 }), req({ internalPort: 82 })], [], [], 50000);
  assert.deepEqual(ports(r), [50000, 50001, 50002]);
  assert.ok(r.mappings.every((m) => m.ephemeral));
  assert.equal(r.cursor, 50003);
});

test('the cursor wraps from the end of the ephemeral range to its start', () => {
  const r = resolve([req(), req({ internalPort: 81 })], [], [], EPHEMERAL_LAST);
  assert.deepEqual(ports(r), [EPHEMERAL_LAST, EPHEMERAL_FIRST]);
  // A cursor past the end (left there by the last port of the range) also starts over.
  assert.deepEqual(ports(resolve([req()], [], [], EPHEMERAL_LAST + 1)), [EPHEMERAL_FIRST]);
});

test('ephemeral allocation skips published ports and listening sockets', () => {
  const taken = [req({ externalPort: 50000 })];
  const listening: ListeningSocket[] = [{ protocol: 6, address: '0.0.0.0', port: 50001 }];
  assert.deepEqual(ports(resolve([req()], taken, listening, 50000)), [50002]);
});

test('ephemeral allocation ignores ports taken by another protocol', () => {
  const taken = [req({ protocol: 17, externalPort: 50000 })];
  const listening: ListeningSocket[] = [{ protocol: 17, address: '0.0.0.0', port: 50000 }];
  assert.deepEqual(ports(resolve([req()], taken, listening, 50000)), [50000]);
});

test('a PortCount block is contiguous and free as a whole', () => {
  const taken = [req({ externalPort: 50001 })];
  const r = resolve([req({ count: 3 })], taken, [], 50000);
  assert.deepEqual(ports(r), [50002]);
  assert.equal(r.mappings[0]!.count, 3);
  assert.equal(r.cursor, 50005);
  // A block does not run past the end of the range: it starts over at the beginning.
  assert.deepEqual(ports(resolve([req({ count: 3 })], [], [], EPHEMERAL_LAST - 1)), [EPHEMERAL_FIRST]);
});

test('no free ephemeral port gives SY_PORTS_EXHAUSTED', () => {
  const all = [req({ externalPort: EPHEMERAL_FIRST, count: EPHEMERAL_LAST - EPHEMERAL_FIRST + 1 })];
  assert.throws(() => resolve([req()], all), code('SY_PORTS_EXHAUSTED'));
});

test('a fixed port keeps its number and clashes with a published one', () => {
  const r = resolve([req({ externalPort: 8080 })]);
  assert.deepEqual(r.mappings, [{ ...req({ externalPort: 8080 }), ephemeral: false }]);
  assert.equal(r.cursor, EPHEMERAL_FIRST, 'a fixed port does not move the cursor');
  assert.throws(() => resolve([req({ externalPort: 8080 })], [req({ externalPort: 8080 })]), code('SY_PORT_IN_USE'));
  assert.throws(() => resolve([req({ externalPort: 8081 })], [req({ externalPort: 8079, count: 3 })]), code('SY_PORT_IN_USE'));
});

test('a wildcard mapping clashes with a host-IP-bound one on the same port, in both orders', () => {
  const bound = req({ externalPort: 8080, hostIp: '192.0.2.1' });
  const wildcard = req({ externalPort: 8080 });
  assert.ok(mappingsClash(bound, wildcard));
  assert.ok(mappingsClash(wildcard, bound));
  assert.throws(() => resolve([wildcard], [bound]), code('SY_PORT_IN_USE'));
  assert.throws(() => resolve([bound], [wildcard]), code('SY_PORT_IN_USE'));
});

test('the same port on two different host IPs does not clash', () => {
  const a = req({ externalPort: 8080, hostIp: '192.0.2.1' });
  const b = req({ externalPort: 8080, hostIp: '192.0.2.2' });
  assert.equal(mappingsClash(a, b), false);
  assert.deepEqual(ports(resolve([b], [a])), [8080]);
});

test('TCP and UDP on the same port do not clash', () => {
  const tcp = req({ externalPort: 53 });
  const udp = req({ protocol: 17, externalPort: 53 });
  assert.equal(mappingsClash(tcp, udp), false);
  assert.deepEqual(ports(resolve([udp], [tcp])), [53]);
});

test('a fixed port clashes with a socket listening on it, unless bound to another address', () => {
  const any: ListeningSocket[] = [{ protocol: 6, address: '0.0.0.0', port: 8080 }];
  assert.throws(() => resolve([req({ externalPort: 8080 })], [], any), code('SY_PORT_IN_USE'));
  assert.throws(() => resolve([req({ externalPort: 8080, hostIp: '192.0.2.1' })], [], any), code('SY_PORT_IN_USE'));
  const other: ListeningSocket[] = [{ protocol: 6, address: '192.0.2.2', port: 8080 }];
  assert.deepEqual(ports(resolve([req({ externalPort: 8080, hostIp: '192.0.2.1' })], [], other)), [8080]);
  assert.throws(() => resolve([req({ externalPort: 8080 })], [], other), code('SY_PORT_IN_USE'));
});

test('parsePortMapping accepts Protocol as 6, "6", "TCP", "udp" and "sctp"', () => {
  const proto = (Protocol: unknown) => parsePortMapping({ Protocol, InternalPort: 80 }, 'p').protocol;
  assert.equal(proto(6), 6);
  assert.equal(proto('6'), 6);
  assert.equal(proto('TCP'), 6);
  assert.equal(proto('udp'), 17);
  assert.equal(proto(17), 17);
  assert.equal(proto('sctp'), 132);
  assert.equal(parsePortMapping({ InternalPort: 80 }, 'p').protocol, 6, 'TCP when Protocol is absent');
});

test('parsePortMapping fills defaults and keeps the VIP', () => {
  assert.deepEqual(parsePortMapping({ InternalPort: 80 }, 'p'), { protocol: 6, internalPort: 80, externalPort: 0, count: 1, flags: 0 });
  assert.deepEqual(parsePortMapping({ InternalPort: 80, ExternalPort: 8080, VIP: '192.0.2.1', PortCount: 2 }, 'p'), {
    protocol: 6,
    internalPort: 80,
    externalPort: 8080,
    count: 2,
    hostIp: '192.0.2.1',
    flags: 0,
  });
  assert.equal(parsePortMapping({ InternalPort: 80, VIP: '0.0.0.0' }, 'p').hostIp, undefined, '0.0.0.0 means every host address');
});

test('parsePortMapping refuses what cannot be mapped', () => {
  const bad: [unknown, string][] = [
    [{ InternalPort: 80, Protocol: 1 }, 'SY_INVALID_POLICY'],
    [{ InternalPort: 80, Protocol: 'icmp' }, 'SY_INVALID_POLICY'],
    [{ InternalPort: 70000 }, 'SY_INVALID_POLICY'],
    [{ InternalPort: 0 }, 'SY_INVALID_POLICY'],
    [{ InternalPort: 80, ExternalPort: 65536 }, 'SY_INVALID_POLICY'],
    [{ InternalPort: 80, PortCount: 0 }, 'SY_INVALID_POLICY'],
    [{ InternalPort: 65535, PortCount: 2 }, 'SY_INVALID_POLICY'],
    [{ InternalPort: 80, PortCount: 5000 }, 'SY_INVALID_POLICY'],
    [{ InternalPort: 80, VIP: '1.2.3' }, 'SY_INVALID_POLICY'],
    [{ InternalPort: 80, Flags: 2 }, 'SY_NOT_SUPPORTED'],
    [{ InternalPort: '80' }, 'SY_BAD_REQUEST'],
    [{}, 'SY_BAD_REQUEST'],
  ];
  for (const [settings, c] of bad) {
    assert.throws(() => parsePortMapping(settings, 'Policies[0]'), code(c), JSON.stringify(settings));
  }
});
