// Shared helpers of the benchmarks: ports, child processes, redis-server, the bridge CLI,
// statistics and bounded waits. Every wait here has a deadline; nothing loops unbounded.
import { execFileSync, spawn, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/**
 * The build under test. bench/run.mjs snapshots dist/ into bench/.dist and points LU_BENCH_DIST at
 * it (inherited by every child process), so a rebuild elsewhere in the tree mid-run changes nothing;
 * likewise the bridge package's dist/ into bench/.dist-bridge (LU_BENCH_BRIDGE_DIST).
 */
export const dist = (file) => path.join(process.env.LU_BENCH_DIST ?? path.join(root, 'dist'), file);
export const distUrl = (file) => pathToFileURL(dist(file)).href;
/** A file of the live-updates-bridge package's build (index.js, cli.js). */
export const bridgeDist = (file) => path.join(process.env.LU_BENCH_BRIDGE_DIST ?? path.join(root, 'packages/live-updates-bridge/dist'), file);
export const bridgeDistUrl = (file) => pathToFileURL(bridgeDist(file)).href;

/** Milliseconds on a clock shared by every process of this machine (epoch based, sub-ms). */
export const wallNow = () => performance.timeOrigin + performance.now();

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A free loopback TCP port (asked from the OS, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Polls `predicate` (sync or async) every `everyMs` until it holds; throws after `timeoutMs`. */
export async function until(predicate, timeoutMs = 10_000, label = 'condition', everyMs = 10) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`${label} not met within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

/** Resolves when a TCP connect to `port` succeeds. */
export async function waitForPort(port, timeoutMs = 10_000) {
  await until(
    () =>
      new Promise((resolve) => {
        const socket = net.connect(port, '127.0.0.1');
        socket.once('connect', () => (socket.destroy(), resolve(true)));
        socket.once('error', () => resolve(false));
      }),
    timeoutMs,
    `port ${port} open`,
    20,
  );
}

/**
 * Raises a process's open-file limit to `limit` (thousands of sockets need more than the usual
 * 1,024) with util-linux's prlimit, which may raise the hard limit when run as root with
 * CAP_SYS_RESOURCE; Node itself raises its soft limit to the hard one at start. Returns the
 * soft limit the process ends up with, so the caller can size its run to it.
 */
export function raiseFdLimit(pid, limit = 65_536) {
  try {
    execFileSync('prlimit', ['--pid', String(pid), `--nofile=${limit}:${limit}`], { stdio: 'ignore', timeout: 5_000 });
  } catch {
    // Not permitted (a container without CAP_SYS_RESOURCE): keep what there is.
  }
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  return Number(line?.split(/\s+/)[3] ?? NaN);
}

/** Starts a throwaway redis-server on a free port; `stop()` ends it. */
export async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'], { stdio: 'ignore' });
  await waitForPort(port);
  return { port, url: `redis://127.0.0.1:${port}`, stop: () => stopChild(child) };
}

/** Starts the built bridge CLI (live-updates-bridge's dist/cli.js) with `env` added to ours; resolves once it prints its listening line. */
export async function startBridgeCli(args, { timeoutMs = 15_000, env = {} } = {}) {
  const child = spawn(process.execPath, [bridgeDist('cli.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bridge did not start: ${out}`)), timeoutMs);
    const onData = (chunk) => {
      out += chunk;
      if (/listening on/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk) => (out += chunk));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bridge exited (${code}): ${out}`));
    });
  });
  child.stdout.resume();
  child.stderr.resume();
  return { child, stop: (signal = 'SIGTERM') => stopChild(child, signal) };
}

/** Sends `signal` to a child and resolves when it has exited (SIGKILL after `graceMs`). */
export function stopChild(child, signal = 'SIGTERM', graceMs = 12_000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/**
 * Forks a bench worker module with an IPC channel. `request(message)` sends a message with an id
 * and resolves with the reply carrying the same id (or rejects after `timeoutMs`).
 */
export function forkWorker(modulePath, args = [], execArgv = []) {
  const child = fork(modulePath, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
  let nextId = 1;
  const pending = new Map();
  let markReady;
  const ready = new Promise((resolve, reject) => {
    markReady = resolve;
    child.once('exit', (code) => reject(new Error(`worker ${modulePath} exited (${code}) before it was ready`)));
  });
  ready.catch(() => {});
  child.on('message', (message) => {
    if (message?.ready) return markReady();
    const entry = pending.get(message?.id);
    if (!entry) return;
    pending.delete(message.id);
    clearTimeout(entry.timer);
    if (message.error) entry.reject(new Error(message.error));
    else entry.resolve(message.result);
  });
  child.once('exit', (code) => {
    for (const entry of pending.values()) entry.reject(new Error(`worker ${modulePath} exited (${code})`));
    pending.clear();
  });
  return {
    child,
    /** Resolves once the worker listens for requests (a message sent earlier could be lost). */
    ready,
    async request(message, timeoutMs = 60_000) {
      await ready;
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`worker request ${message.type} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        child.send({ ...message, id });
      });
    },
    stop: () => stopChild(child, 'SIGTERM', 5_000),
  };
}

/** The worker side of {@link forkWorker}: answers each request with `handlers[type](message)`. */
export function serveRequests(handlers) {
  process.on('message', async (message) => {
    try {
      const handler = handlers[message.type];
      if (!handler) throw new Error(`unknown request ${message.type}`);
      process.send({ id: message.id, result: await handler(message) });
    } catch (error) {
      process.send({ id: message.id, error: String(error?.stack ?? error) });
    }
  });
  process.on('SIGTERM', () => process.exit(0));
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true });
}

export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

export const median = (values) => percentile(values, 50);

/** Rounds for display/JSON without pretending to more precision than the noise allows. */
export function round(value, digits = 3) {
  if (!Number.isFinite(value)) return value;
  const magnitude = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : digits;
  const factor = 10 ** magnitude;
  return Math.round(value * factor) / factor;
}

/** One result row, the shape of bench/results/latest.json. `met` is null for report-only rows. */
export function row({ name, ours, baseline, unit, goal, met, ratio }) {
  const r = ratio ?? (Number.isFinite(ours) && Number.isFinite(baseline) && baseline !== 0 ? ours / baseline : null);
  return { name, ours: round(ours), baseline: baseline === null ? null : round(baseline), ratio: r === null ? null : Math.round(r * 1000) / 1000, unit, goal, met };
}
