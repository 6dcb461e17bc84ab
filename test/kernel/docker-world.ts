/**
 * A private Docker engine for end-to-end tests (shared/TESTING.md): Debian's dockerd runs inside the
 * test's host namespace (nsenter --net) and in a private mount namespace of its own, where the test's
 * plugin directory is bind-mounted over /run/docker/plugins: the plugins are found under Docker's real
 * names (`-d nat`, `--ipam-driver switchyard`) without touching the machine's /run/docker/plugins, and
 * every mount dockerd makes (overlay layers, sandbox namespaces) stays in that mount namespace. hostd
 * runs in the same mount namespace so that it sees the sandbox namespaces Docker mounts.
 * Data root, exec root, socket, pidfile, config file and cgroup parent are the test's own; images
 * come from `docker import` of a busybox-static root filesystem. Cleanup removes the containers,
 * stops dockerd by its pid, and kills what remains of its processes (found in its mount namespace
 * and its cgroup parent, so only what it started) also when a test fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, symlinkSync, copyFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { run } from '../../src/dataplane/run.js';
import { waitFor, type Hostd, type World } from './world.js';

export const DOCKER = '/usr/bin/docker';
export const DOCKERD = '/usr/sbin/dockerd';
export const IMAGE = 'sytbox:1';
const APPLETS = ['sh', 'ip', 'ping', 'nc', 'httpd', 'sleep', 'cat', 'echo', 'ls', 'wget', 'true', 'hostname', 'grep', 'tail', 'printf'];

export interface DockerRun {
  code: number;
  stdout: string;
  stderr: string;
}

export class DockerEngine {
  readonly dir: string;
  readonly socket: string;
  readonly pluginDir: string;
  readonly cgroupParent: string;
  private holder: ChildProcess | undefined;
  private dockerd: ChildProcess | undefined;
  private dockerdLog: Buffer[] = [];
  private madeRunDocker = false;

  constructor(
    w: World,
    readonly hostNs: string,
  ) {
    this.dir = join(w.dir, 'docker');
    this.socket = join(this.dir, 'docker.sock');
    this.pluginDir = join(this.dir, 'plugins');
    this.cgroupParent = w.prefix;
    mkdirSync(this.pluginDir, { recursive: true });
  }

  /** The pid whose mount namespace dockerd and hostd share. */
  get mountNsPid(): number {
    return this.holder!.pid!;
  }

  /** Makes the mount namespace; call before starting hostd in it and then start(). */
  async prepare(): Promise<void> {
    if (!existsSync('/run/docker/plugins')) {
      this.madeRunDocker = !existsSync('/run/docker');
      mkdirSync('/run/docker/plugins', { recursive: true });
    }
    this.holder = spawn('unshare', ['-m', '--propagation', 'private', '--', 'sleep', 'infinity'], { stdio: 'ignore' });
    const mnt = `/proc/${this.holder.pid}/ns/mnt`;
    await waitFor('the mount namespace', async () => existsSync(mnt) && readlinkSync(mnt) !== readlinkSync('/proc/self/ns/mnt'));
    await run(['nsenter', `--mount=${mnt}`, '--', 'mount', '--bind', this.pluginDir, '/run/docker/plugins']);
  }

  /**
   * Starts dockerd (default settings: its own iptables rules, FORWARD policy DROP) and waits for it.
   * `debug` logs every API call and plugin request with its time (for the benchmark's timeline).
   */
  async start(opts: { liveRestore?: boolean; debug?: boolean } = {}): Promise<void> {
    this.forgetZombieContainerd();
    const config = join(this.dir, 'daemon.json');
    writeFileSync(config, JSON.stringify({ 'cgroup-parent': this.cgroupParent, 'live-restore': opts.liveRestore ?? false, 'shutdown-timeout': 1, ...(opts.debug ? { debug: true } : {}) }));
    this.dockerd = spawn(
      'nsenter',
      [`--mount=/proc/${this.mountNsPid}/ns/mnt`, `--net=/run/netns/${this.hostNs}`, '--', DOCKERD, '--config-file', config,
        '--data-root', join(this.dir, 'data'), '--exec-root', join(this.dir, 'exec'), '-H', `unix://${this.socket}`,
        '--pidfile', join(this.dir, 'docker.pid')],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.dockerd.stdout!.on('data', (b: Buffer) => this.dockerdLog.push(b));
    this.dockerd.stderr!.on('data', (b: Buffer) => this.dockerdLog.push(b));
    const d = this.dockerd;
    await waitFor('dockerd to answer', async () => {
      if (d.exitCode !== null) throw new Error(`dockerd exited: ${this.log().slice(-2000)}`);
      return (await this.docker('version', '--format', '{{.Server.Version}}')).code === 0;
    }, 60_000);
  }

  /**
   * After a kill -9 of dockerd, its containerd (started with a parent-death signal) dies too but may
   * stay a zombie for seconds here (this machine's pid 1 reaps late); a restarted dockerd would find
   * the zombie's pid in containerd.pid, take it for a running containerd and wait for it in vain.
   */
  private forgetZombieContainerd(): void {
    const pidfile = join(this.dir, 'exec', 'containerd', 'containerd.pid');
    try {
      const pid = readFileSync(pidfile, 'utf8').trim();
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (/^\d+ \(.*\) Z /.test(stat)) unlinkSync(pidfile);
    } catch {
      // no pidfile, or the process is gone: dockerd handles both
    }
  }

  log(): string {
    return Buffer.concat(this.dockerdLog).toString();
  }

  /** Runs the docker client against this engine; never throws on a non-zero exit. */
  async docker(...args: string[]): Promise<DockerRun> {
    const res = await run([DOCKER, '-H', `unix://${this.socket}`, ...args], {
      okExitCodes: Array.from({ length: 255 }, (_, i) => i + 1),
      timeoutMs: 120_000,
    });
    return { code: res.exitCode, stdout: res.stdout.trim(), stderr: res.stderr.trim() };
  }

  /** Like docker(), but fails the test with docker's message unless it exits 0. */
  async ok(...args: string[]): Promise<string> {
    const r = await this.docker(...args);
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  /** Imports a busybox-static root filesystem as IMAGE. */
  async importImage(): Promise<void> {
    const root = join(this.dir, 'rootfs');
    for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'www']) mkdirSync(join(root, d), { recursive: true });
    copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
    for (const a of APPLETS) symlinkSync('busybox', join(root, 'bin', a));
    writeFileSync(join(root, 'www/index.html'), 'hello-from-docker');
    // busybox has no UDP server: the host's socat with the libraries it links.
    const ldd = await run(['ldd', '/usr/bin/socat']);
    const files = ['/usr/bin/socat', ...[...ldd.stdout.matchAll(/(\/\S+\.so[.\d]*)/g)].map((m) => m[1]!)];
    for (const f of files) {
      mkdirSync(join(root, dirname(f)), { recursive: true });
      copyFileSync(f, join(root, f));
    }
    await run(['sh', '-c', `tar -C '${root}' -c . | '${DOCKER}' -H 'unix://${this.socket}' import - ${IMAGE}`]);
  }

  /** Stops dockerd by its pid: SIGTERM (graceful: Docker revokes/leaves/deletes its endpoints) or SIGKILL. */
  async stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const d = this.dockerd;
    if (!d || d.exitCode !== null || d.signalCode !== null) return;
    const exited = new Promise((r) => d.once('exit', r));
    // nsenter execs dockerd, so this pid is dockerd's.
    d.kill(signal);
    await exited;
  }

  /** Containers, dockerd, its containerd and shims, the mount namespace: all gone, also after a failure. */
  async cleanup(): Promise<void> {
    if (this.dockerd && this.dockerd.exitCode === null && this.dockerd.signalCode === null) {
      const ids = (await this.docker('ps', '-aq')).stdout.split('\n').filter(Boolean);
      if (ids.length) await this.docker('rm', '-f', ...ids);
      const nets = (await this.docker('network', 'ls', '-q', '--filter', 'type=custom')).stdout.split('\n').filter(Boolean);
      for (const n of nets) await this.docker('network', 'rm', n);
      await this.stop('SIGTERM');
    }
    // What is left of the engine: processes in its mount namespace (containerd, shims) and in its
    // cgroup parent (container processes).
    if (this.holder?.pid) {
      const mine = readlinkSync(`/proc/${this.holder.pid}/ns/mnt`);
      for (const pid of processesWhere((p) => readlinkSync(`/proc/${p}/ns/mnt`) === mine)) {
        if (pid !== this.holder.pid) killPid(pid);
      }
    }
    for (const pid of cgroupProcs(this.cgroupParent)) killPid(pid);
    // a killed process leaves its cgroup a moment later; an occupied cgroup cannot be removed
    await waitFor('the engine\'s cgroups to empty', async () => cgroupProcs(this.cgroupParent).length === 0, 5_000).catch(() => undefined);
    if (this.holder && this.holder.exitCode === null) {
      const exited = new Promise((r) => this.holder!.once('exit', r));
      this.holder.kill('SIGKILL');
      await exited;
    }
    removeCgroups(this.cgroupParent);
    if (this.madeRunDocker) {
      try {
        rmdirSync('/run/docker/plugins');
        rmdirSync('/run/docker');
      } catch {
        // someone else uses it now: leave it
      }
    }
  }
}

function processesWhere(pred: (pid: number) => boolean): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (pred(Number(e))) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

const CGROUP_ROOT = '/sys/fs/cgroup';

function cgroupDirs(parent: string): string[] {
  if (!existsSync(CGROUP_ROOT)) return [];
  return readdirSync(CGROUP_ROOT)
    .map((c) => join(CGROUP_ROOT, c, parent))
    .filter((d) => existsSync(d));
}

function cgroupProcs(parent: string): number[] {
  const pids = new Set<number>();
  const walk = (d: string) => {
    try {
      for (const l of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (l) pids.add(Number(l));
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    } catch {
      // not a cgroup directory
    }
  };
  for (const d of cgroupDirs(parent)) walk(d);
  return [...pids];
}

/** Removes the cgroup `parent` (every controller) with what is below it; answers the directories left (busy). */
export function removeCgroups(parent: string): string[] {
  const rm = (d: string) => {
    try {
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) rm(join(d, e.name));
      rmdirSync(d);
    } catch {
      // busy or gone
    }
  };
  for (const d of cgroupDirs(parent)) rm(d);
  return cgroupDirs(parent);
}

/**
 * An HTTP GET through busybox nc from inside a container (busybox wget crashes on this kernel).
 * It first waits (up to 2 s) for the container's default route: hostd places the interface of a
 * starting container in parallel with its start (see src/docker/sandbox.ts), so a process that talks
 * at once can come before its network does; measured here: rare, but seen on a loaded machine.
 */
export function ncGet(host: string, port: number): string[] {
  return withNetwork(`printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${host} ${port} | tail -n 1`);
}

/** `sh -c` of `cmd` once the container has its default route (see ncGet). */
export function withNetwork(cmd: string): string[] {
  const waitNet = 'i=0; while [ $i -lt 200 ] && ! ip route | grep -q default; do sleep 0.01; i=$((i+1)); done';
  return ['sh', '-c', `${waitNet}; ${cmd}`];
}

/** The Docker world of a test: the engine's mount namespace, hostd --docker in it, dockerd, the image. */
export async function startDockerWorld(w: World, hostNs: string): Promise<{ engine: DockerEngine; hostd: Hostd }> {
  const engine = new DockerEngine(w, hostNs);
  await engine.prepare();
  const hostd = await w.startHostd(hostNs, { args: ['--docker', '--docker-plugin-dir', engine.pluginDir], mountNsPid: engine.mountNsPid, resyncSeconds: 2 });
  await engine.start();
  await engine.importImage();
  return { engine, hostd };
}

/** Removes the engine and the world (also after a failure; SY_DEBUG=1 prints both daemons' logs first). */
export async function stopDockerWorld(w: World, engine: DockerEngine | undefined): Promise<void> {
  if (process.env.SY_DEBUG) console.log(`--- hostd\n${w.daemonLogs()}\n--- dockerd\n${engine?.log()}`);
  await engine?.cleanup();
  await w.cleanup();
}
