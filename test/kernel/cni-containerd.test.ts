/**
 * End to end with a real runtime: a private containerd (its own root, state and sockets in the
 * test's directory, CRI disabled) and `ctr run --cni` starting a busybox httpd on a Switchyard
 * network whose config publishes port 8082 (a raw HCN PortMapping policy: ctr has no -p). `ctr`
 * reads /etc/cni/net.d and /opt/cni/bin only, so it runs in a private mount namespace with the
 * test's directories mounted over those paths, and in the test's host network namespace, where a
 * runtime runs its plugins. The port is reached from the "outside" namespace; killing the task makes
 * ctr call DEL (with an empty CNI_NETNS), which must leave hostd empty.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { requireRoot, World, waitFor, type Hostd } from './world.js';
import { busyboxRootfs } from './rootfs.js';
import { Containerd, writeNetDir } from './runtimes.js';

type Ep = { Name: string; NamespacePath?: string; IpConfigurations: { IpAddress: string }[] };

describe('containerd: ctr run --cni with the Switchyard plugin', () => {
  const w = new World('ctr');
  let hostd: Hostd;
  let host: string;
  let outside: string;
  let containerd: Containerd | undefined;

  before(async () => {
    requireRoot();
    ({ host, outside } = await w.hostAndOutside());
    hostd = await w.startHostd(host);
    containerd = await Containerd.start(w, host);
  });

  after(async () => {
    await containerd?.stop();
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
    assert.deepEqual(containerd?.removeCgroups() ?? [], []);
  });

  it('runs busybox httpd on a Switchyard network; the published port answers from outside; exit detaches it', async () => {
    const netd = writeNetDir(join(w.dir, 'net.d'), {
      cniVersion: '1.0.0',
      name: 'ctrnet',
      plugins: [
        {
          type: 'switchyard',
          subnet: '10.94.0.0/24',
          socket: hostd.socket,
          AdditionalArgs: [{ Name: 'EndpointPolicy', Value: { Type: 'PortMapping', Settings: { Protocol: 6, InternalPort: 80, ExternalPort: 8082 } } }],
        },
      ],
    });
    const rootfs = busyboxRootfs(w.dir, { 'www/index.html': 'hello-from-ctr' });
    const task = containerd!.runCni(`sy-${process.pid}`, netd, rootfs, ['/bin/httpd', '-f', '-p', '80', '-h', '/www']);
    await waitFor(
      'the container on the Switchyard network',
      async () => {
        if (task.proc.exitCode !== null) throw new Error(`ctr exited: ${task.output()}`);
        return (await hostd.client.request<Ep[]>('GET', '/endpoints?network=ctrnet').catch(() => [])).length === 1;
      },
      30_000,
    );
    const [ep] = await hostd.client.request<Ep[]>('GET', '/endpoints?network=ctrnet');
    assert.match(ep!.NamespacePath ?? '', /^\/proc\/\d+\/ns\/net$/, 'ctr hands over the task\'s namespace by /proc path');
    await waitFor('httpd in the container', async () => (await w.curl(host, `http://${ep!.IpConfigurations[0]!.IpAddress}/`, 1)) === 'hello-from-ctr', 15_000);
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8082/'), 'hello-from-ctr', 'published port from outside');

    await containerd!.kill(task);
    await waitFor('ctr to run DEL', async () => (await hostd.client.request<Ep[]>('GET', '/endpoints')).length === 0);
    assert.deepEqual(await hostd.client.request('GET', '/namespaces'), [], 'hostd forgot the task\'s namespace');
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8082/', 1), '');
  });
});
