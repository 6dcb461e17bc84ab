/** The DHCP packet codec: known byte layouts, round trips, strict decoding, and fuzzing of decode. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SyError } from '../../src/errors.js';
import { decodeDhcp, DhcpOption, encodeDhcp, prefixOfMask, type DhcpOptions, type DhcpPacket } from '../../src/dhcp/packet.js';
import { discover } from '../../src/dhcp/messages.js';

const MAC = '02:42:de:ad:be:01';
const malformed = (err: unknown) => err instanceof SyError && err.code === 'SY_BAD_REQUEST' && err.message.startsWith('Malformed DHCP packet: ');

/** A server's OFFER written out byte by byte (not by the encoder), as dnsmasq sends it. */
function offerBytes(options: number[]): Buffer {
  const b = Buffer.alloc(240);
  b.set([2, 1, 6, 0], 0); // reply, Ethernet, hlen 6, hops 0
  b.set([0x12, 0x34, 0x56, 0x78], 4); // xid
  b.set([0, 3, 0x80, 0], 8); // secs 3, broadcast flag
  b.set([198, 18, 0, 140], 16); // yiaddr
  b.set([198, 18, 0, 1], 20); // siaddr
  b.set([0x02, 0x42, 0xde, 0xad, 0xbe, 0x01], 28); // chaddr
  b.write('boot-server', 44, 'latin1');
  b.set([99, 130, 83, 99], 236);
  return Buffer.concat([b, Buffer.from(options)]);
}

const OFFER_OPTIONS = [
  53, 1, 2, // OFFER
  54, 4, 198, 18, 0, 1,
  51, 4, 0, 0, 0, 120,
  58, 4, 0, 0, 0, 60,
  59, 4, 0, 0, 0, 105,
  1, 4, 255, 255, 255, 0,
  28, 4, 198, 18, 0, 255, // broadcast address: not named here, kept raw
  15, 10, ...Buffer.from('sydh.test\0'), // NUL-terminated, as some servers send it
  6, 8, 198, 18, 0, 53, 198, 18, 0, 54,
  3, 4, 198, 18, 0, 1,
  0, 0, // padding
  255, 0, 0, 0,
];

test('decodes an OFFER laid out byte by byte', () => {
  const p = decodeDhcp(offerBytes(OFFER_OPTIONS));
  assert.deepEqual(p, {
    op: 'reply', hops: 0, xid: 0x12345678, secs: 3, broadcast: true,
    ciaddr: '0.0.0.0', yiaddr: '198.18.0.140', siaddr: '198.18.0.1', giaddr: '0.0.0.0', chaddr: MAC,
    sname: 'boot-server', file: '',
    options: {
      messageType: 'OFFER', serverId: '198.18.0.1', leaseSeconds: 120, renewalSeconds: 60, rebindingSeconds: 105,
      subnetMask: '255.255.255.0', other: [{ code: 28, data: Uint8Array.of(198, 18, 0, 255) }], domainName: 'sydh.test',
      dnsServers: ['198.18.0.53', '198.18.0.54'], routers: ['198.18.0.1'],
    },
  } satisfies DhcpPacket);
});

test('encodes a DISCOVER to the exact bytes of RFC 2131, padded to 300', () => {
  const bytes = encodeDhcp(discover({ mac: MAC, hostname: 'ep1', clientId: 'c1' }, 0xcafef00d, 2, '198.18.0.9'));
  assert.equal(bytes.length, 300);
  assert.deepEqual([...bytes.subarray(0, 12)], [1, 1, 6, 0, 0xca, 0xfe, 0xf0, 0x0d, 0, 2, 0x80, 0]);
  assert.deepEqual([...bytes.subarray(12, 28)], new Array(16).fill(0), 'ciaddr, yiaddr, siaddr, giaddr are 0.0.0.0');
  assert.deepEqual([...bytes.subarray(28, 44)], [0x02, 0x42, 0xde, 0xad, 0xbe, 0x01, ...new Array(10).fill(0)]);
  assert.deepEqual([...bytes.subarray(44, 236)], new Array(192).fill(0), 'sname and file are empty');
  assert.deepEqual([...bytes.subarray(236, 240)], [99, 130, 83, 99]);
  const options = [
    53, 1, 1,
    61, 3, 0, 0x63, 0x31, // type 0, "c1"
    50, 4, 198, 18, 0, 9,
    12, 3, 0x65, 0x70, 0x31, // "ep1"
    55, 8, 1, 3, 6, 15, 51, 54, 58, 59,
    255,
  ];
  assert.deepEqual([...bytes.subarray(240, 240 + options.length)], options);
  assert.ok(bytes.subarray(240 + options.length).every((b) => b === 0), 'padding after the end option');
});

test('options longer than 255 bytes are split and joined again (RFC 3396)', () => {
  const dns = Array.from({ length: 70 }, (_, i) => `10.0.${i >> 8}.${i & 255}`); // 280 bytes
  const p = decodeDhcp(offerBytes(OFFER_OPTIONS));
  const bytes = encodeDhcp({ ...p, options: { ...p.options, dnsServers: dns } });
  const at = bytes.indexOf(Buffer.from([6, 255]), 240);
  assert.ok(at > 0, 'a first piece of 255 bytes');
  assert.equal(bytes[at + 2 + 255], 6, 'a second piece follows');
  assert.equal(bytes[at + 2 + 255 + 1], 25);
  assert.deepEqual(decodeDhcp(bytes).options.dnsServers, dns);
});

test('strict decode refuses malformed packets with a reason', () => {
  const good = offerBytes(OFFER_OPTIONS);
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty', new Uint8Array(0), /shorter than/],
    ['short', good.subarray(0, 239), /shorter than/],
    ['bad op', Buffer.concat([Buffer.from([3]), good.subarray(1)]), /op 3/],
    ['token ring', Buffer.concat([Buffer.from([2, 6]), good.subarray(2)]), /only Ethernet/],
    ['no cookie', Buffer.concat([good.subarray(0, 236), Buffer.from([1, 2, 3, 4]), good.subarray(240)]), /magic cookie/],
    ['no end', offerBytes([53, 1, 2]), /no end option/],
    ['option past the end', offerBytes([53, 1, 2, 6, 8, 1, 2, 3]), /runs past the end/],
    ['length missing', offerBytes([53, 1, 2, 6]), /has no length/],
    ['mask of 3 bytes', offerBytes([1, 3, 255, 255, 255, 255]), /subnet mask \(1\) has length 3/],
    ['dns of 6 bytes', offerBytes([6, 6, 1, 2, 3, 4, 5, 6, 255]), /DNS servers \(6\) has length 6/],
    ['message type 9', offerBytes([53, 1, 9, 255]), /message type 9/],
    ['lease of 2 bytes', offerBytes([51, 2, 0, 1, 255]), /lease time \(51\) has length 2/],
    ['binary hostname', offerBytes([12, 2, 0x41, 0x07, 255]), /not printable ASCII/],
    ['one-byte client id', offerBytes([61, 1, 0, 255]), /client identifier \(61\)/],
  ];
  for (const [name, bytes, why] of cases) {
    assert.throws(() => decodeDhcp(bytes), (e: unknown) => malformed(e) && why.test((e as Error).message), name);
  }
});

test('bytes after the end option are not read', () => {
  assert.equal(decodeDhcp(offerBytes([53, 1, 2, 255, 0, 7, 1])).options.messageType, 'OFFER');
});

test('encode refuses what cannot be sent', () => {
  const p = decodeDhcp(offerBytes(OFFER_OPTIONS));
  const bad: [string, DhcpPacket][] = [
    ['address', { ...p, yiaddr: '198.18.0.256' }],
    ['mac', { ...p, chaddr: '02:42:de:ad:be' }],
    ['xid', { ...p, xid: 2 ** 32 }],
    ['sname', { ...p, sname: 'x'.repeat(65) }],
    ['hostname', { ...p, options: { ...p.options, hostname: 'a\nb' } }],
    ['empty routers', { ...p, options: { ...p.options, routers: [] } }],
    ['named code in other', { ...p, options: { ...p.options, other: [{ code: DhcpOption.routers, data: Uint8Array.of(1, 2, 3, 4) }] } }],
  ];
  for (const [name, packet] of bad) {
    assert.throws(() => encodeDhcp(packet), (e: unknown) => e instanceof SyError && e.code === 'SY_BAD_REQUEST' && e.message.startsWith('Cannot encode DHCP packet'), name);
  }
});

test('prefixOfMask reads contiguous masks only', () => {
  assert.equal(prefixOfMask('255.255.255.0'), 24);
  assert.equal(prefixOfMask('0.0.0.0'), 0);
  assert.equal(prefixOfMask('255.255.255.255'), 32);
  assert.equal(prefixOfMask('255.255.254.0'), 23);
  assert.equal(prefixOfMask('255.0.255.0'), null);
  assert.equal(prefixOfMask('255.255.255'), null);
});

// --- properties -----------------------------------------------------------------------------------

const byte = fc.integer({ min: 0, max: 255 });
const ipv4 = fc.tuple(byte, byte, byte, byte).map((t) => t.join('.'));
const mac = fc.tuple(byte, byte, byte, byte, byte, byte).map((t) => t.map((b) => b.toString(16).padStart(2, '0')).join(':'));
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const text = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 300 });
const latin1 = (max: number) => fc.string({ unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: max });
const named = new Set<number>(Object.values(DhcpOption));
const otherCode = fc.integer({ min: 1, max: 254 }).filter((c) => !named.has(c));

const options: fc.Arbitrary<DhcpOptions> = fc.record(
  {
    messageType: fc.constantFrom('DISCOVER', 'OFFER', 'REQUEST', 'DECLINE', 'ACK', 'NAK', 'RELEASE', 'INFORM'),
    subnetMask: ipv4,
    routers: fc.array(ipv4, { minLength: 1, maxLength: 4 }),
    dnsServers: fc.array(ipv4, { minLength: 1, maxLength: 80 }),
    hostname: text,
    domainName: text,
    requestedAddress: ipv4,
    leaseSeconds: u32,
    serverId: ipv4,
    parameterRequestList: fc.array(byte, { minLength: 1, maxLength: 20 }),
    message: text,
    renewalSeconds: u32,
    rebindingSeconds: u32,
    clientId: fc.uint8Array({ minLength: 2, maxLength: 300 }),
    other: fc.uniqueArray(fc.record({ code: otherCode, data: fc.uint8Array({ maxLength: 300 }) }), { selector: (o) => o.code, minLength: 1, maxLength: 5 }),
  },
  { requiredKeys: [] },
) as fc.Arbitrary<DhcpOptions>;

const packet: fc.Arbitrary<DhcpPacket> = fc.record({
  op: fc.constantFrom('request' as const, 'reply' as const),
  hops: byte,
  xid: u32,
  secs: fc.integer({ min: 0, max: 0xffff }),
  broadcast: fc.boolean(),
  ciaddr: ipv4,
  yiaddr: ipv4,
  siaddr: ipv4,
  giaddr: ipv4,
  chaddr: mac,
  sname: latin1(64),
  file: latin1(128),
  options,
  // fast-check's records have no prototype, decode's have Object's: a structured clone makes them alike.
}).map((p) => structuredClone(p));

test('property: decode(encode(p)) is p', () => {
  fc.assert(
    fc.property(packet, (p) => {
      assert.deepStrictEqual(decodeDhcp(encodeDhcp(p)), p);
    }),
    { numRuns: 500 },
  );
});

/** decode either returns a packet or throws SY_BAD_REQUEST: nothing else, whatever the bytes. */
function decodesOrRefuses(bytes: Uint8Array): void {
  try {
    const p = decodeDhcp(bytes);
    // What decodes also encodes, to a packet that decodes the same.
    assert.deepStrictEqual(decodeDhcp(encodeDhcp(p)), p);
  } catch (e) {
    // A refusal must be one of the decoder's own checks, not its safety net catching a defect.
    if (!malformed(e) || (e as Error).message.includes('unexpected decoder failure')) throw e;
  }
}

test('fuzz: random bytes are decoded or refused with SyError, never a crash', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 700 }), decodesOrRefuses), { numRuns: 2_000 });
  // Random bytes behind a valid header reach the option parser.
  const header = offerBytes([]);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (tail) => decodesOrRefuses(Buffer.concat([header, tail]))), { numRuns: 3_000 });
});

test('fuzz: valid packets with bytes flipped or cut are decoded or refused with SyError', () => {
  fc.assert(
    fc.property(packet, fc.array(fc.tuple(fc.nat(), byte), { minLength: 1, maxLength: 8 }), fc.option(fc.nat()), (p, flips, cut) => {
      const bytes = Buffer.from(encodeDhcp(p));
      for (const [at, value] of flips) bytes[at % bytes.length] = value;
      decodesOrRefuses(cut === null ? bytes : bytes.subarray(0, cut % (bytes.length + 1)));
    }),
    { numRuns: 1_000 },
  );
});
