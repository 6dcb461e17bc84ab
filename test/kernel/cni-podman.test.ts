/**
 * End to end with podman 4.3 on its CNI backend: private storage, run root, tmp and CNI config
 * directories in the test's directory (CONTAINERS_CONF / CONTAINERS_STORAGE_CONF), podman itself in
 * the test's host network namespace where it runs its CNI plugins. `podman run -p 8083:80` reaches
 * the plugin as runtimeConfig.portMappings; the port is reached from the outside namespace, and
 * `podman rm` runs DEL, after which hostd holds nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot, World, type Hostd } from './world.js';
import { busyboxRootfs } from './rootfs.js';
import { Podman, writeNetDir } from './runtimes.js';

type Ep = { Name: string; NamespacePath?: string; IpConfigurations: { IpAddress: string }[] };

describe('podman (CNI backend) with the Switchyard plugin', () => {
  const w = new World('pod');
  let hostd: Hostd;
  let host: string;
  let outside: string;
  let podman: Podman | undefined;

  before(async () => {
    requireRoot();
    ({ host, outside } = await w.hostAndOutside());
    hostd = await w.startHostd(host);
    podman = await Podman.start(w, host, busyboxRootfs(w.dir, { 'www/index.html': 'hello-from-podman' }), 'localhost/sybox');
    writeNetDir(podman.netd, {
      cniVersion: '1.0.0',
      name: 'synet',
      plugins: [{ type: 'switchyard', subnet: '10.95.0.0/24', socket: hostd.socket, capabilities: { portMappings: true } }],
    });
  });

  after(async () => {
    await podman?.stop();
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
    assert.deepEqual(podman?.removeCgroups() ?? [], []);
  });

  it('podman run -p 8083:80 on a Switchyard network: reachable from outside; podman rm detaches it', async () => {
    const r = await podman!.runContainer('-d', '--name', 'web', '--network', 'synet', '-p', '8083:80', 'localhost/sybox', '/bin/httpd', '-f', '-p', '80', '-h', '/www');
    assert.equal(r.exitCode, 0, r.stderr);
    const eps = await hostd.client.request<Ep[]>('GET', '/endpoints?network=synet');
    assert.equal(eps.length, 1);
    assert.match(eps[0]!.NamespacePath ?? '', /^\/run\/netns\/netns-/, 'podman hands over its own /run/netns namespace');
    assert.equal(await w.curl(host, `http://${eps[0]!.IpConfigurations[0]!.IpAddress}/`), 'hello-from-podman');
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8083/'), 'hello-from-podman', 'published port from outside');
    const inspect = await podman!.run('inspect', '--format', '{{.NetworkSettings.Networks.synet.IPAddress}}', 'web');
    assert.equal(inspect.stdout.trim(), eps[0]!.IpConfigurations[0]!.IpAddress, 'podman reports the address from our result');

    const rm = await podman!.run('rm', '-f', '-t', '0', 'web');
    assert.equal(rm.exitCode, 0, rm.stderr);
    assert.equal((await hostd.client.request<Ep[]>('GET', '/endpoints')).length, 0);
    assert.deepEqual(await hostd.client.request('GET', '/namespaces'), [], 'hostd forgot podman\'s namespace');
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8083/', 1), '');
  });
});
