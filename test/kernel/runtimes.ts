/**
 * Real container runtimes for the CNI tests, started the way shared/TESTING.md says works here:
 * podman 4.3 on its CNI backend and a private containerd 1.6 driven by `ctr run --cni`. Their
 * config, storage, state and sockets live in the test's directory; both run their CNI plugins in the
 * test's host network namespace, from a plugin directory holding the installed Switchyard plugin and
 * Debian's loopback. Nothing of theirs is left once `stop` (and the world's cleanup) has run.
 */
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { run } from '../../src/dataplane/run.js';
import { installCni } from '../../src/cli/install-cni.js';
import { waitFor, type World } from './world.js';
import { removeCgroups } from './docker-world.js';

/** The test's CNI plugin directory (made once per world): the Switchyard plugin and Debian's loopback. */
export function runtimeCniBin(w: World): string {
  const bin = join(w.dir, 'cni-bin');
  if (!existsSync(join(bin, 'loopback'))) {
    installCni(bin);
    symlinkSync('/usr/lib/cni/loopback', join(bin, 'loopback'));
  }
  return bin;
}

/** A directory of CNI network configs holding `lists` (one `NAME.conflist` each, by their name). */
export function writeNetDir(dir: string, ...lists: { name: string; [key: string]: unknown }[]): string {
  mkdirSync(dir, { recursive: true });
  for (const l of lists) writeFileSync(join(dir, `${l.name}.conflist`), JSON.stringify(l));
  return dir;
}

/**
 * podman with private storage, run root, tmp and network config dir, run in the host namespace. Its
 * containers (and their conmon) get a cgroup parent of the run's prefix instead of the machine-wide
 * libpod_parent, which podman would leave behind.
 */
export class Podman {
  readonly netd: string;
  private readonly cgroupParent: string;
  private readonly graph: string;
  private readonly runroot: string;
  private readonly env: NodeJS.ProcessEnv;

  private constructor(
    w: World,
    private readonly hostNs: string,
  ) {
    const dir = w.dir;
    this.cgroupParent = `${w.prefix}-podman`;
    this.graph = join(dir, 'podman-graph');
    this.runroot = join(dir, 'podman-run');
    this.netd = join(dir, 'net.d');
    const tmp = join(dir, 'podman-tmp');
    for (const d of [this.graph, this.runroot, this.netd, tmp]) mkdirSync(d, { recursive: true });
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
        `network_config_dir = "${this.netd}"`,
        `cni_plugin_dirs = ["${runtimeCniBin(w)}"]`,
      ].join('\n') + '\n',
    );
    writeFileSync(join(dir, 'storage.conf'), `[storage]\ndriver = "vfs"\ngraphroot = "${this.graph}"\nrunroot = "${this.runroot}"\n`);
    this.env = { ...process.env, CONTAINERS_CONF: join(dir, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf') };
  }

  /** Configures podman in `w` and imports `rootfs` (a directory) as the image `image`. */
  static async start(w: World, hostNs: string, rootfs: string, image: string): Promise<Podman> {
    const p = new Podman(w, hostNs);
    const tar = join(w.dir, 'rootfs.tar');
    await run(['tar', '-C', rootfs, '-cf', tar, '.']);
    const imp = await p.run('import', tar, image);
    if (imp.exitCode !== 0) throw new Error(`podman import: ${imp.stderr}`);
    return p;
  }

  /** Runs `podman ARGS` in the host namespace; exit codes 1, 2 and 125-127 (e.g. 126: a CNI ADD refused) are answered, not thrown. */
  run(...args: string[]) {
    return run(['nsenter', `--net=/run/netns/${this.hostNs}`, '--', 'podman', '--root', this.graph, '--runroot', this.runroot, ...args], {
      env: this.env,
      okExitCodes: [1, 2, 125, 126, 127],
      timeoutMs: 120_000,
    });
  }

  /** `podman run ARGS` in this test's cgroup parent. */
  runContainer(...args: string[]) {
    return this.run('run', '--cgroup-parent', `/${this.cgroupParent}`, ...args);
  }

  /** Removes every container (their DEL runs) and podman's storage; call before the world's cleanup. */
  async stop(): Promise<void> {
    await this.run('rm', '-f', '-t', '0', '--all').catch(() => undefined);
    await this.run('system', 'reset', '-f').catch(() => undefined);
  }

  /** Removes the containers' cgroup parent, which podman leaves (after stop); answers what could not be removed. */
  removeCgroups(): string[] {
    return removeCgroups(this.cgroupParent);
  }
}

/** A task started by `ctr run --cni` in the foreground: its ctr process and what it has printed. */
export interface CtrTask {
  id: string;
  proc: ChildProcess;
  output: () => string;
}

/** A private containerd (CRI disabled) and `ctr` against it, in a containerd namespace of the run's prefix. */
export class Containerd {
  readonly sock: string;
  readonly ns: string;
  private readonly tasks: CtrTask[] = [];

  private constructor(
    private readonly w: World,
    private readonly hostNs: string,
  ) {
    this.sock = join(w.dir, 'containerd.sock');
    this.ns = w.prefix;
  }

  /** Starts containerd (by pid, stopped at the world's cleanup); its tasks' plugins run in `hostNs`. */
  static async start(w: World, hostNs: string): Promise<Containerd> {
    const c = new Containerd(w, hostNs);
    const dir = w.dir;
    writeFileSync(
      join(dir, 'containerd.toml'),
      [
        'version = 2',
        `root = "${dir}/containerd-root"`,
        `state = "${dir}/containerd-state"`,
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        '[grpc]',
        `  address = "${c.sock}"`,
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
      return (await run(['ctr', '--address', c.sock, 'version'], { okExitCodes: [1] })).exitCode === 0;
    });
    return c;
  }

  /** Runs `ctr ARGS` in this containerd namespace; exit code 1 is answered, not thrown. */
  ctr(...args: string[]) {
    return run(['ctr', '--address', this.sock, '--namespace', this.ns, ...args], { okExitCodes: [1] });
  }

  /**
   * Starts `ctr run --rm --cni --rootfs ROOTFS ID ARGV` in the host namespace, in the foreground (ctr
   * runs DEL when the task ends). ctr reads /etc/cni/net.d and /opt/cni/bin only: it runs in a private
   * mount namespace with `netd` and the test's plugin directory mounted over those two paths. ctr
   * picks the first config of `netd`, so give it a directory holding only the network meant. PATH is
   * set (a bare rootfs has no image config), so `ctr task exec` finds busybox's applets.
   */
  runCni(id: string, netd: string, rootfs: string, argv: string[]): CtrTask {
    const script = join(this.w.dir, `ctr-run-${id}.sh`);
    writeFileSync(
      script,
      [
        'set -e',
        // /opt may hold no cni/bin here: a tmpfs over /opt (in this mount namespace only) gives a mount point.
        'mount -t tmpfs none /opt',
        'mkdir -p /opt/cni/bin',
        // never create directories in the machine's /etc: use a tmpfs mount point when net.d is missing
        'if [ ! -d /etc/cni/net.d ]; then [ -d /etc/cni ] || { echo "no /etc/cni to mount over" >&2; exit 1; }; mount -t tmpfs none /etc/cni; mkdir /etc/cni/net.d; fi',
        `mount --bind ${runtimeCniBin(this.w)} /opt/cni/bin`,
        `mount --bind ${netd} /etc/cni/net.d`,
        `exec ctr --address ${this.sock} --namespace ${this.ns} run --rm --cni --env PATH=/bin --rootfs ${rootfs} ${id} ${argv.join(' ')}`,
      ].join('\n') + '\n',
    );
    const proc = this.w.spawnProc(['nsenter', `--net=/run/netns/${this.hostNs}`, '--', 'unshare', '-m', '--propagation', 'private', 'bash', script]);
    const out: Buffer[] = [];
    proc.stdout!.on('data', (b: Buffer) => out.push(b));
    proc.stderr!.on('data', (b: Buffer) => out.push(b));
    const task = { id, proc, output: () => Buffer.concat(out).toString() };
    this.tasks.push(task);
    return task;
  }

  /** Kills the task with SIGKILL and waits until its ctr has exited (after the DEL it runs). */
  async kill(task: CtrTask): Promise<void> {
    if (task.proc.exitCode !== null || task.proc.signalCode !== null) return;
    const exited = new Promise((r) => task.proc.once('exit', r));
    await this.ctr('task', 'kill', '-s', 'SIGKILL', task.id);
    await exited;
  }

  /** Whatever happened, no task, shim or container of ours outlives the test; call before the world's cleanup. */
  async stop(): Promise<void> {
    for (const t of this.tasks) {
      await this.ctr('task', 'kill', '-s', 'SIGKILL', t.id).catch(() => undefined);
      if (t.proc.exitCode === null && t.proc.signalCode === null) {
        await waitFor(`ctr of ${t.id} to exit`, async () => t.proc.exitCode !== null || t.proc.signalCode !== null, 5_000).catch(() => undefined);
      }
      await this.ctr('task', 'rm', '-f', t.id).catch(() => undefined);
      await this.ctr('container', 'rm', t.id).catch(() => undefined);
    }
  }

  /**
   * Removes the cgroup named after the containerd namespace, which containerd (cgroup v1) leaves in
   * every controller (after the world's cleanup stopped containerd); answers what could not be removed.
   */
  removeCgroups(): string[] {
    return removeCgroups(this.ns);
  }
}
