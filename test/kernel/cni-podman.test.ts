/**
 * End to end with podman 4.3 on its CNI backend: private storage, run root, tmp and CNI config
 * directories in the test's directory (CONTAINERS_CONF / CONTAINERS_STORAGE_CONF), podman itself in
 * the test's host network namespace where it runs its CNI plugins. `podman run -p 8083:80` reaches
 * the plugin as runtimeConfig.portMappings; the port is reached from the outside namespace, and
 * `podman rm` runs DEL, after which hostd holds nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../src/dataplane/run.js';
import { installCni } from '../../src/cli/install-cni.js';
import { requireRoot, World, type Hostd } from './world.js';
import { busyboxRootfs } from './rootfs.js';

type Ep = { Name: string; NamespacePath?: string; IpConfigurations: { IpAddress: string }[] };

describe('podman (CNI backend) with the Switchyard plugin', () => {
  const w = new World('pod');
  let hostd: Hostd;
  let host: string;
  let outside: string;
  let env: NodeJS.ProcessEnv;
  let graph: string;
  let runroot: string;
  const podman = (...args: string[]) =>
    run(['nsenter', `--net=/run/netns/${host}`, '--', 'podman', '--root', graph, '--runroot', runroot, ...args], { env, okExitCodes: [1, 2, 125], timeoutMs: 120_000 });

  before(async () => {
    requireRoot();
    ({ host, outside } = await w.hostAndOutside());
    hostd = await w.startHostd(host);
    const dir = w.dir;
    graph = join(dir, 'podman-graph');
    runroot = join(dir, 'podman-run');
    const bin = join(dir, 'cni-bin');
    const netd = join(dir, 'net.d');
    const tmp = join(dir, 'podman-tmp');
    for (const d of [graph, runroot, netd, tmp]) mkdirSync(d, { recursive: true });
    installCni(bin);
    symlinkSync('/usr/lib/cni/loopback', join(bin, 'loopback'));
    writeFileSync(
      join(dir, 'containers.conf'),
      [
        '[containers]',
        // root lacks CAP_SYS_RESOURCE here: without explicit limits runs fail with "error setting rlimit"
        'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
        '[engine]',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `events_logfile_path = "${tmp}/events.log"`,
        'runtime = "runc"',
        `tmp_dir = "${tmp}"`,
        '[network]',
        'network_backend = "cni"',
        `network_config_dir = "${netd}"`,
        `cni_plugin_dirs = ["${bin}"]`,
      ].join('\n') + '\n',
    );
    writeFileSync(join(dir, 'storage.conf'), `[storage]\ndriver = "vfs"\ngraphroot = "${graph}"\nrunroot = "${runroot}"\n`);
    writeFileSync(
      join(netd, 'synet.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'synet',
        plugins: [{ type: 'switchyard', subnet: '10.95.0.0/24', socket: hostd.socket, capabilities: { portMappings: true } }],
      }),
    );
    env = { ...process.env, CONTAINERS_CONF: join(dir, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf') };
    const rootfs = busyboxRootfs(dir, { 'www/index.html': 'hello-from-podman' });
    await run(['tar', '-C', rootfs, '-cf', join(dir, 'rootfs.tar'), '.']);
    const imp = await podman('import', join(dir, 'rootfs.tar'), 'localhost/sybox');
    assert.equal(imp.exitCode, 0, imp.stderr);
  });

  after(async () => {
    if (graph && host) {
      await podman('rm', '-f', '-t', '0', '--all').catch(() => undefined);
      await podman('system', 'reset', '-f').catch(() => undefined);
    }
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
  });

  it('podman run -p 8083:80 on a Switchyard network: reachable from outside; podman rm detaches it', async () => {
    const r = await podman('run', '-d', '--name', 'web', '--network', 'synet', '-p', '8083:80', 'localhost/sybox', '/bin/httpd', '-f', '-p', '80', '-h', '/www');
    assert.equal(r.exitCode, 0, r.stderr);
    const eps = await hostd.client.request<Ep[]>('GET', '/endpoints?network=synet');
    assert.equal(eps.length, 1);
    assert.match(eps[0]!.NamespacePath ?? '', /^\/run\/netns\/netns-/, 'podman hands over its own /run/netns namespace');
    assert.equal(await w.curl(host, `http://${eps[0]!.IpConfigurations[0]!.IpAddress}/`), 'hello-from-podman');
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8083/'), 'hello-from-podman', 'published port from outside');
    const inspect = await podman('inspect', '--format', '{{.NetworkSettings.Networks.synet.IPAddress}}', 'web');
    assert.equal(inspect.stdout.trim(), eps[0]!.IpConfigurations[0]!.IpAddress, 'podman reports the address from our result');

    const rm = await podman('rm', '-f', '-t', '0', 'web');
    assert.equal(rm.exitCode, 0, rm.stderr);
    assert.equal((await hostd.client.request<Ep[]>('GET', '/endpoints')).length, 0);
    assert.deepEqual(await hostd.client.request('GET', '/namespaces'), [], 'hostd forgot podman\'s namespace');
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8083/', 1), '');
  });
});
