/** `--publish` specs of the CLI, turned into HCN PortMapping policies. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePublish } from '../../src/cli/publish.js';

test('HOSTPORT:PORT publishes TCP', () => {
  assert.deepEqual(parsePublish('8080:80'), { Type: 'PortMapping', Settings: { Protocol: 6, InternalPort: 80, ExternalPort: 8080 } });
});

test('PORT alone lets Switchyard choose the host port', () => {
  assert.deepEqual(parsePublish('80').Settings, { Protocol: 6, InternalPort: 80, ExternalPort: 0 });
});

test('HOSTIP:HOSTPORT:PORT/udp binds to one host address', () => {
  assert.deepEqual(parsePublish('127.0.0.1:8080:80/udp').Settings, { Protocol: 17, InternalPort: 80, ExternalPort: 8080, VIP: '127.0.0.1' });
});

test('HOSTIP::PORT binds to one host address with a chosen host port', () => {
  assert.deepEqual(parsePublish('127.0.0.1::80').Settings, { Protocol: 6, InternalPort: 80, ExternalPort: 0, VIP: '127.0.0.1' });
});

test('a range maps port by port with PortCount', () => {
  assert.deepEqual(parsePublish('8000-8002:9000-9002/sctp').Settings, { Protocol: 132, InternalPort: 9000, ExternalPort: 8000, PortCount: 3 });
  assert.deepEqual(parsePublish('8000-8002:9000-9002/SCTP').Settings.Protocol, 132, 'the protocol is case-insensitive');
});

test('bad specs are refused with a message naming the spec', () => {
  const bad: [string, RegExp][] = [
    ['8000-8002:80', /differ in size/],
    ['x:80', /host port "x" is not a port/],
    ['70000:80', /not a valid range/],
    ['80/icmp', /protocol "icmp"/],
    ['8002-8000:9002-9000', /not a valid range/],
    ['0', /container port 0/],
    ['1:2:3:4', /expected/],
    ['', /container port "" is not a port/],
  ];
  for (const [spec, message] of bad) {
    assert.throws(() => parsePublish(spec), (err: Error) => err.message.startsWith(`--publish ${spec}:`) && message.test(err.message), spec);
  }
});
