/**
 * Real runtimes on Switchyard networks in the uplink modes, end to end: podman 4.3 (CNI backend) and
 * a private containerd 1.6 (`ctr run --cni`) in a host namespace whose eth1 (10.0.0.11/24, default
 * route via 10.0.0.1) is a port of a fabric switch holding the peer 10.0.0.1. For each of l2bridge,
 * transparent and l2tunnel (with the switch's hairpin on: the upstream that sends same-host frames
 * back), one container by each runtime gets its address on the segment from the plugin's result,
 * reaches the peer and is reached by it, and the two reach each other on the same host; removing
 * them and the network gives eth1 back with the same addresses, routes and links. A `podman run -p`
 * on an l2bridge network fails with the plugin's error and leaves nothing. What the bare plugin does
 * (results, CHECK, DEL twice) is cni-uplink.test.ts's; this file shows the runtimes drive it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { requireRoot, World, waitFor, type Hostd } from './world.js';
import { run } from '../../src/dataplane/run.js';
import { busyboxRootfs } from './rootfs.js';
import { Containerd, Podman, writeNetDir, type CtrTask } from './runtimes.js';
import { inetAddrs, PEER_PAGE, uplinkFabric, upstreamHairpin } from './docker-fabric.js';
import { ncGet } from './docker-world.js';

type Ep = { Name: string; NamespacePath?: string; IpConfigurations: { IpAddress: string }[] };

const MODES = ['l2bridge', 'transparent', 'l2tunnel'] as const;
const IMAGE = 'localhost/sybox';

describe('podman and ctr on Switchyard networks in modes l2bridge, transparent and l2tunnel (a fabric on eth1)', () => {
  const w = new World('rtu');
  let host: string;
  let fabric: string;
  let hostd: Hostd;
  let podman: Podman | undefined;
  let containerd: Containerd | undefined;
  let rootfs: string;
  /** ctr takes the first config of its directory: one directory per network. */
  const ctrNetd: Record<string, string> = {};
  const conflist = (mode: string) => ({
    cniVersion: '1.0.0',
    name: `up-${mode}`,
    plugins: [{ type: 'switchyard', mode, master: 'eth1', subnet: '10.0.0.0/24', gateway: '10.0.0.1', socket: hostd.socket, capabilities: { portMappings: true } }],
  });

  /** What the host has that its networks must give back: eth1's addresses and master, its routes, its links. */
  const hostState = async () => {
    const links = JSON.parse((await run(['ip', '-n', host, '-j', 'link', 'show'])).stdout) as { ifname: string; master?: string }[];
    return {
      eth1: await inetAddrs(host, 'eth1'),
      eth1Master: links.find((l) => l.ifname === 'eth1')?.master,
      routes: (await run(['ip', '-n', host, 'route', 'show'])).stdout.trim(),
      links: links.map((l) => l.ifname).sort(),
    };
  };
  let pristine: Awaited<ReturnType<typeof hostState>>;
  const endpoints = async (net?: string) => (await hostd.client.request<Ep[]>('GET', net ? `/endpoints?network=${net}` : '/endpoints')) ?? [];

  before(async () => {
    requireRoot();
    host = await w.addNs('host');
    fabric = await uplinkFabric(w, host, ['route add default via 10.0.0.1 dev eth1'], { upstreamSwitch: true });
    hostd = await w.startHostd(host);
    rootfs = busyboxRootfs(w.dir, { 'www/podman/index.html': 'hello-from-podman', 'www/ctr/index.html': 'hello-from-ctr' });
    [podman, containerd] = await Promise.all([Podman.start(w, host, rootfs, IMAGE), Containerd.start(w, host)]);
    writeNetDir(podman.netd, ...MODES.map(conflist));
    for (const mode of MODES) ctrNetd[mode] = writeNetDir(join(w.dir, `ctr-net.d-${mode}`), conflist(mode));
    pristine = await hostState();
    assert.deepEqual(pristine.eth1, ['10.0.0.11/24']);
  });

  after(async () => {
    await podman?.stop();
    await containerd?.stop();
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
    assert.deepEqual(podman?.removeCgroups() ?? [], []);
    assert.deepEqual(containerd?.removeCgroups() ?? [], []);
  });

  it('podman run -p on an l2bridge network fails with the plugin\'s error and leaves no network, endpoint, namespace or link', async () => {
    const r = await podman!.runContainer('-d', '--name', 'refused', '--network', 'up-l2bridge', '-p', '8080:80', IMAGE, '/bin/httpd', '-f', '-p', '80', '-h', '/www/podman');
    assert.notEqual(r.exitCode, 0);
    // podman quotes the plugin's own error (CNI code 2) for the ADD it made with runtimeConfig.portMappings
    assert.match(r.stderr, /plugin type="switchyard" failed \(add\): .*portMappings are not supported in mode l2bridge: its containers are on the physical network with their own addresses/);
    await podman!.run('rm', '-f', '-t', '0', 'refused');
    assert.deepEqual(await endpoints(), []);
    assert.deepEqual((await hostd.client.request<unknown[]>('GET', '/networks')) ?? [], []);
    assert.deepEqual((await hostd.client.request<unknown[]>('GET', '/namespaces')) ?? [], []);
    assert.deepEqual(await hostState(), pristine);
  });

  for (const mode of MODES) {
    it(`${mode}: a podman and a ctr container get addresses on the segment, reach the peer and each other, and are reached by the peer; removing them and the network gives eth1 back`, async () => {
      const net = `up-${mode}`;
      if (mode === 'l2tunnel') await upstreamHairpin(w, fabric, true);
      let started: CtrTask | undefined;
      try {
        const r = await podman!.runContainer('-d', '--name', `p-${mode}`, '--network', net, IMAGE, '/bin/httpd', '-f', '-p', '80', '-h', '/www/podman');
        assert.equal(r.exitCode, 0, r.stderr);
        const task = (started = containerd!.runCni(`c-${mode}`, ctrNetd[mode]!, rootfs, ['/bin/httpd', '-f', '-p', '80', '-h', '/www/ctr']));
        await waitFor(
          'the ctr container on the network',
          async () => {
            if (task.proc.exitCode !== null) throw new Error(`ctr exited: ${task.output()}`);
            return (await endpoints(net)).length === 2;
          },
          30_000,
        );
        const network = await hostd.client.request<{ Type: string; Uplink: { Adapter: string } }>('GET', `/networks/${net}`);
        assert.equal(network.Type.toLowerCase(), mode);
        assert.equal(network.Uplink.Adapter, 'eth1');
        const eps = await endpoints(net);
        const podIp = eps.find((e) => e.NamespacePath?.startsWith('/run/netns/netns-'))?.IpConfigurations[0]!.IpAddress;
        const ctrIp = eps.find((e) => /^\/proc\/\d+\/ns\/net$/.test(e.NamespacePath ?? ''))?.IpConfigurations[0]!.IpAddress;
        for (const ip of [podIp, ctrIp]) {
          assert.match(ip ?? '', /^10\.0\.0\.\d+$/, `an address on the segment: ${JSON.stringify(eps)}`);
          assert.ok(!['10.0.0.1', '10.0.0.11'].includes(ip!), `neither the peer's nor the host's address: ${ip}`);
        }
        assert.notEqual(podIp, ctrIp);
        const inspect = await podman!.run('inspect', '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', `p-${mode}`);
        assert.equal(inspect.stdout.trim(), podIp, 'podman reports the address from the plugin\'s result');

        // the peer reaches each container at its own address
        await waitFor('the podman container from the peer', async () => (await w.curl(fabric, `http://${podIp}/`, 1)) === 'hello-from-podman', 15_000);
        await waitFor('the ctr container from the peer', async () => (await w.curl(fabric, `http://${ctrIp}/`, 1)) === 'hello-from-ctr', 15_000);
        // each reaches the peer, and the two reach each other on the same host
        const fromPodman = async (ip: string, port: number) => {
          const x = await podman!.run('exec', `p-${mode}`, ...ncGet(ip, port));
          assert.equal(x.exitCode, 0, x.stderr);
          return x.stdout.trim();
        };
        let execs = 0;
        const fromCtr = async (ip: string, port: number) => {
          const x = await containerd!.ctr('task', 'exec', '--exec-id', `x${execs++}`, task.id, ...ncGet(ip, port));
          assert.equal(x.exitCode, 0, x.stderr);
          return x.stdout.trim();
        };
        assert.equal(await fromPodman('10.0.0.1', 8000), PEER_PAGE, 'podman\'s container reaches the peer');
        assert.equal(await fromCtr('10.0.0.1', 8000), PEER_PAGE, 'ctr\'s container reaches the peer');
        assert.equal(await fromCtr(podIp!, 80), 'hello-from-podman', 'ctr\'s container reaches podman\'s on the same host');
        assert.equal(await fromPodman(ctrIp!, 80), 'hello-from-ctr', 'podman\'s container reaches ctr\'s on the same host');

        const rm = await podman!.run('rm', '-f', '-t', '0', `p-${mode}`);
        assert.equal(rm.exitCode, 0, rm.stderr);
        await containerd!.kill(task);
        await waitFor('both runtimes to run DEL', async () => (await endpoints()).length === 0);
        assert.deepEqual((await hostd.client.request<unknown[]>('GET', '/namespaces')) ?? [], [], 'hostd forgot both runtimes\' namespaces');
        const del = await w.cli(hostd, 'network', 'rm', net);
        assert.equal(del.code, 0, del.stderr);
        assert.deepEqual(await hostState(), pristine, 'eth1 has its addresses, routes and links back');
        assert.equal(await w.curl(host, 'http://10.0.0.1:8000/'), PEER_PAGE);
      } finally {
        // a failed round leaves nothing holding eth1 for the next one
        await podman!.run('rm', '-f', '-t', '0', `p-${mode}`);
        if (started) await containerd!.kill(started);
        await hostd.client.request('DELETE', `/networks/${net}`).catch(() => undefined);
        if (mode === 'l2tunnel') await upstreamHairpin(w, fabric, false);
      }
    });
  }
});
