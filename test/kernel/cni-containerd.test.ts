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
import { existsSync, mkdirSync, readdirSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { run } from '../../src/dataplane/run.js';
import { installCni } from '../../src/cli/install-cni.js';
import { requireRoot, World, waitFor, type Hostd } from './world.js';
import { busyboxRootfs } from './rootfs.js';

type Ep = { Name: string; NamespacePath?: string; IpConfigurations: { IpAddress: string }[] };

describe('containerd: ctr run --cni with the Switchyard plugin', () => {
  const w = new World('ctr');
  let hostd: Hostd;
  let host: string;
  let outside: string;
  let sock: string;
  let ctrNs: string;
  let task: ChildProcess | undefined;
  const id = `sy-${process.pid}`;
  const ctr = (...args: string[]) => run(['ctr', '--address', sock, '--namespace', ctrNs, ...args], { okExitCodes: [1] });

  before(async () => {
    requireRoot();
    ({ host, outside } = await w.hostAndOutside());
    hostd = await w.startHostd(host);
    const dir = w.dir;
    sock = join(dir, 'containerd.sock');
    ctrNs = w.prefix;
    writeFileSync(
      join(dir, 'containerd.toml'),
      [
        'version = 2',
        `root = "${dir}/containerd-root"`,
        `state = "${dir}/containerd-state"`,
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        '[grpc]',
        `  address = "${sock}"`,
        '[ttrpc]',
        `  address = "${dir}/containerd-ttrpc.sock"`,
        '[debug]',
        '  address = ""',
        '[metrics]',
        '  address = ""',
      ].join('\n') + '\n',
    );
    const containerd = w.spawnProc(['containerd', '--config', join(dir, 'containerd.toml')]);
    await waitFor('containerd to answer', async () => {
      if (containerd.exitCode !== null) throw new Error('containerd exited');
      return (await run(['ctr', '--address', sock, 'version'], { okExitCodes: [1] })).exitCode === 0;
    });
  });

  after(async () => {
    // Whatever happened, no task, shim or container of ours may outlive the test.
    if (sock) {
      await ctr('task', 'kill', '-s', 'SIGKILL', id).catch(() => undefined);
      if (task && task.exitCode === null && task.signalCode === null) await new Promise((r) => setTimeout(r, 500));
      await ctr('task', 'rm', '-f', id).catch(() => undefined);
      await ctr('container', 'rm', id).catch(() => undefined);
    }
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
    // containerd (cgroup v1) leaves a directory named after its namespace in every controller.
    const left: string[] = [];
    if (ctrNs) {
      for (const ctl of existsSync('/sys/fs/cgroup') ? readdirSync('/sys/fs/cgroup') : []) {
        const dir = join('/sys/fs/cgroup', ctl, ctrNs);
        if (!existsSync(dir)) continue;
        for (const sub of readdirSync(dir, { withFileTypes: true })) if (sub.isDirectory()) rmdirSync(join(dir, sub.name));
        rmdirSync(dir);
        if (existsSync(dir)) left.push(dir);
      }
    }
    assert.deepEqual(left, []);
  });

  it('runs busybox httpd on a Switchyard network; the published port answers from outside; exit detaches it', async () => {
    const bin = join(w.dir, 'cni-bin');
    const netd = join(w.dir, 'net.d');
    mkdirSync(netd, { recursive: true });
    installCni(bin);
    symlinkSync('/usr/lib/cni/loopback', join(bin, 'loopback'));
    const conflist = {
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
    };
    writeFileSync(join(netd, '10-switchyard.conflist'), JSON.stringify(conflist));
    const rootfs = busyboxRootfs(w.dir, { 'www/index.html': 'hello-from-ctr' });
    const script = join(w.dir, 'ctr-run.sh');
    // /opt may hold no cni/bin here: a tmpfs over /opt (in this mount namespace only) gives a mount point.
    writeFileSync(
      script,
      [
        'set -e',
        'mount -t tmpfs none /opt',
        'mkdir -p /opt/cni/bin',
        // never create directories in the machine's /etc: use a tmpfs mount point when net.d is missing
        'if [ ! -d /etc/cni/net.d ]; then [ -d /etc/cni ] || { echo "no /etc/cni to mount over" >&2; exit 1; }; mount -t tmpfs none /etc/cni; mkdir /etc/cni/net.d; fi',
        `mount --bind ${bin} /opt/cni/bin`,
        `mount --bind ${netd} /etc/cni/net.d`,
        `exec ctr --address ${sock} --namespace ${ctrNs} run --rm --cni --rootfs ${rootfs} ${id} /bin/httpd -f -p 80 -h /www`,
      ].join('\n') + '\n',
    );
    task = w.spawnProc(['nsenter', `--net=/run/netns/${host}`, '--', 'unshare', '-m', '--propagation', 'private', 'bash', script]);
    const out: Buffer[] = [];
    task.stdout!.on('data', (b: Buffer) => out.push(b));
    task.stderr!.on('data', (b: Buffer) => out.push(b));
    await waitFor(
      'the container on the Switchyard network',
      async () => {
        if (task!.exitCode !== null) throw new Error(`ctr exited: ${Buffer.concat(out).toString()}`);
        return (await hostd.client.request<Ep[]>('GET', '/endpoints?network=ctrnet').catch(() => [])).length === 1;
      },
      30_000,
    );
    const [ep] = await hostd.client.request<Ep[]>('GET', '/endpoints?network=ctrnet');
    assert.match(ep!.NamespacePath ?? '', /^\/proc\/\d+\/ns\/net$/, 'ctr hands over the task\'s namespace by /proc path');
    await waitFor('httpd in the container', async () => (await w.curl(host, `http://${ep!.IpConfigurations[0]!.IpAddress}/`, 1)) === 'hello-from-ctr', 15_000);
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8082/'), 'hello-from-ctr', 'published port from outside');

    const exited = new Promise((r) => task!.once('exit', r));
    await ctr('task', 'kill', '-s', 'SIGKILL', id);
    await exited;
    await waitFor('ctr to run DEL', async () => (await hostd.client.request<Ep[]>('GET', '/endpoints')).length === 0);
    assert.deepEqual(await hostd.client.request('GET', '/namespaces'), [], 'hostd forgot the task\'s namespace');
    assert.equal(await w.curl(outside, 'http://192.0.2.1:8082/', 1), '');
  });
});
