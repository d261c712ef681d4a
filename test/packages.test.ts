// @vitest-environment node
// The two packages as their users get them: `npm pack` of live-updates (the root) and of
// live-updates-bridge (packages/live-updates-bridge), both tarballs installed with npm into a fresh
// directory outside the repository, next to the frameworks the adapters take as optional peers
// (react, react-dom, vue, @tanstack/query-core, the versions this repository tests with). Then:
// what each tarball holds, the installed dependency tree, every subpath imported in ESM and CJS by
// plain node (no window), every typed subpath type-checked under node16 and bundler resolution,
// the bin run from the installed package, and one change from the installed bridge to the installed
// client. dist/ and packages/live-updates-bridge/dist/ must be built (npm test builds first).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers/processes';

const BRIDGE_ROOT = join(ROOT, 'packages/live-updates-bridge');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
/** The server side: none of it may reach an app that installs live-updates. */
const SERVER_PACKAGES = ['socket.io', 'redis', '@redis/client', '@socket.io/redis-adapter', 'notepack.io', 'engine.io', 'socket.io-adapter'];
/** The adapters' optional peers, at the versions installed here; @types/* for the type checks. */
const PEERS = ['react', 'react-dom', 'vue', '@tanstack/query-core', '@types/react', '@types/node'];

interface PackedFile {
  path: string;
}
interface Packed {
  name: string;
  version: string;
  filename: string;
  files: PackedFile[];
}
interface Manifest {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  exports: Record<string, unknown>;
  bin?: Record<string, string>;
  sideEffects?: boolean;
}
interface LsNode {
  version?: string;
  dependencies?: Record<string, LsNode>;
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;
const versionOf = (name: string): string => readJson<Manifest>(join(ROOT, 'node_modules', name, 'package.json')).version;
/** npm and node as a user's shell runs them: without the npm_* settings of the `npm test` around us. */
const cleanEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));

let work = '';
let app = '';
let packed: Packed[] = [];

beforeAll(() => {
  for (const built of [join(ROOT, 'dist/index.js'), join(BRIDGE_ROOT, 'dist/cli.js')]) {
    if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build\` first (npm test does)`);
  }
  work = mkdtempSync(join(tmpdir(), 'live-updates-packages-'));
  const tarballs = join(work, 'tarballs');
  app = join(work, 'app');
  mkdirSync(tarballs);
  mkdirSync(app);
  const out = execFileSync('npm', ['pack', '--workspaces', '--include-workspace-root', '--json', '--pack-destination', tarballs], { cwd: ROOT, env: cleanEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  packed = JSON.parse(out) as Packed[];
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  const install = ['install', '--no-audit', '--no-fund', ...packed.map((pack) => join(tarballs, pack.filename)), ...PEERS.map((name) => `${name}@${versionOf(name)}`)];
  execFileSync('npm', install, { cwd: app, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs `node <file>` in the app directory (written there first); its stdout, parsed as JSON. */
function nodeJson<T>(file: string, code: string): T {
  writeFileSync(join(app, file), code);
  const result = spawnSync(process.execPath, [file], { cwd: app, env: cleanEnv(), encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`node ${file} exited ${String(result.status ?? result.signal)}:\n${result.stdout}\n${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/** Every package name in an `npm ls --json` subtree. */
function namesUnder(node: LsNode): Set<string> {
  const names = new Set<string>();
  const walk = (deps: Record<string, LsNode> | undefined): void => {
    for (const [name, child] of Object.entries(deps ?? {})) {
      if (names.has(name)) continue;
      names.add(name);
      walk(child.dependencies);
    }
  };
  walk(node.dependencies);
  return names;
}

/** The bare module specifiers a built file imports or requires. */
function bareImports(code: string): string[] {
  const found = [...code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^import\s+)['"]([^'"]+)['"]/gm)].map((match) => match[1]!);
  return found.filter((id) => !id.startsWith('.') && !id.startsWith('node:'));
}
const packageOf = (id: string): string => (id.startsWith('@') ? id.split('/').slice(0, 2).join('/') : id.split('/')[0]!);

describe('the two packages, packed and installed in a clean directory', () => {
  it('packs exactly two tarballs of one version: live-updates and live-updates-bridge', () => {
    expect(packed.map((pack) => pack.name).sort()).toEqual(['live-updates', 'live-updates-bridge']);
    expect(new Set(packed.map((pack) => pack.version)).size).toBe(1);
  });

  it('each tarball holds its package.json, README.md and dist/ only, with every export and bin target (no src, tests or fixtures)', () => {
    for (const pack of packed) {
      const files = pack.files.map((file) => file.path);
      expect(files.filter((file) => !/^(dist\/.+\.(c?js|d\.c?ts|map)|README\.md|package\.json)$/.test(file)), pack.name).toEqual([]);
      expect(files.filter((file) => /(^|\/)(src|test|e2e|bench|demo|fixtures)\//.test(file) || /\.test\.|\.spec\./.test(file)), pack.name).toEqual([]);
      const manifest = readJson<Manifest>(join(app, 'node_modules', pack.name, 'package.json'));
      expect(manifest.sideEffects, pack.name).toBe(false);
      const targets = [...JSON.stringify(manifest.exports).matchAll(/"\.\/(dist\/[^"]+)"/g)].map((match) => match[1]!);
      targets.push(...Object.values(manifest.bin ?? {}).map((bin) => bin.replace(/^\.\//, '')));
      expect(targets.length, pack.name).toBeGreaterThan(1);
      expect(targets.filter((target) => !files.includes(target)), pack.name).toEqual([]);
    }
    const bridgeFiles = packed.find((pack) => pack.name === 'live-updates-bridge')!.files.map((file) => file.path);
    expect(bridgeFiles).toContain('dist/cli.js');
    const clientFiles = packed.find((pack) => pack.name === 'live-updates')!.files.map((file) => file.path);
    expect(clientFiles.filter((file) => /bridge|cli/.test(file))).toEqual([]);
  });

  it('live-updates depends on socket.io-client, mitt and zod only; live-updates-bridge on the server packages', () => {
    const client = readJson<Manifest>(join(app, 'node_modules/live-updates/package.json'));
    const bridge = readJson<Manifest>(join(app, 'node_modules/live-updates-bridge/package.json'));
    expect(Object.keys(client.dependencies ?? {}).sort()).toEqual(['mitt', 'socket.io-client', 'zod']);
    expect(client.bin).toBeUndefined();
    expect(Object.keys(client.exports)).not.toContain('./bridge');
    expect(Object.keys(bridge.dependencies ?? {})).toEqual(expect.arrayContaining(['socket.io', 'redis', '@socket.io/redis-adapter', 'notepack.io']));
    expect(Object.keys(bridge.dependencies ?? {})).not.toContain('socket.io-client');
    expect(bridge.bin).toEqual({ 'live-updates-bridge': './dist/cli.js' });
  });

  it('npm ls --all: nothing of the server under live-updates, all of it under live-updates-bridge', () => {
    const result = spawnSync('npm', ['ls', '--all', '--json'], { cwd: app, env: cleanEnv(), encoding: 'utf8' });
    const tree = JSON.parse(result.stdout) as LsNode;
    const client = namesUnder(tree.dependencies!['live-updates']!);
    const bridge = namesUnder(tree.dependencies!['live-updates-bridge']!);
    expect(client).toContain('socket.io-client'); // the walk sees the client's own tree
    expect(SERVER_PACKAGES.filter((name) => client.has(name))).toEqual([]);
    expect(SERVER_PACKAGES.filter((name) => !bridge.has(name))).toEqual([]);
  });

  it("every bare import in each package's built files is one of its own dependencies or peers (or a Node built-in)", () => {
    for (const name of ['live-updates', 'live-updates-bridge']) {
      const base = join(app, 'node_modules', name);
      const manifest = readJson<Manifest>(join(base, 'package.json'));
      const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})]);
      const files = packed.find((pack) => pack.name === name)!.files.map((file) => file.path).filter((file) => /\.(c?js|d\.c?ts)$/.test(file) && !file.includes('.global.'));
      const imported = new Set(files.flatMap((file) => bareImports(readFileSync(join(base, file), 'utf8'))).map(packageOf));
      expect(imported.size, name).toBeGreaterThan(1);
      expect([...imported].filter((id) => !declared.has(id) && !id.startsWith('node:')), name).toEqual([]);
    }
  });

  it('plain node (no window) imports every subpath of both packages with import and with require, and they agree on the protocol', () => {
    const subpaths = ['live-updates', 'live-updates/react', 'live-updates/vue', 'live-updates/tanstack-query', 'live-updates-bridge'];
    const report = `const keys = (m) => Object.keys(m).filter((k) => k !== 'default' && k !== 'module.exports').sort();`;
    type Report = { window: string; modules: Record<string, string[]>; manifests: string[]; protocol: [string, string][] };
    const esm = nodeJson<Report>(
      'check.mjs',
      `${report}
const modules = {};
for (const id of ${JSON.stringify(subpaths)}) modules[id] = keys(await import(id));
const manifests = [(await import('live-updates/package.json', { with: { type: 'json' } })).default.name, (await import('live-updates-bridge/package.json', { with: { type: 'json' } })).default.name];
const { PROTOCOL } = await import('live-updates');
const { PROTOCOL_EVENTS } = await import('live-updates-bridge');
const protocol = Object.keys(PROTOCOL_EVENTS).map((k) => [PROTOCOL[k], PROTOCOL_EVENTS[k]]);
console.log(JSON.stringify({ window: typeof window, modules, manifests, protocol }));`,
    );
    const cjs = nodeJson<Report>(
      'check.cjs',
      `${report}
const modules = {};
for (const id of ${JSON.stringify(subpaths)}) modules[id] = keys(require(id));
const manifests = [require('live-updates/package.json').name, require('live-updates-bridge/package.json').name];
const { PROTOCOL } = require('live-updates');
const { PROTOCOL_EVENTS } = require('live-updates-bridge');
const protocol = Object.keys(PROTOCOL_EVENTS).map((k) => [PROTOCOL[k], PROTOCOL_EVENTS[k]]);
console.log(JSON.stringify({ window: typeof window, modules, manifests, protocol }));`,
    );
    expect(esm.window).toBe('undefined');
    expect(cjs.modules).toEqual(esm.modules);
    expect(esm.modules['live-updates']).toEqual(expect.arrayContaining(['createLiveUpdates', 'PROTOCOL']));
    expect(esm.modules['live-updates/react']).toEqual(expect.arrayContaining(['LiveUpdatesProvider', 'useSubscribe', 'useLiveStatus', 'useNewVersion']));
    expect(esm.modules['live-updates/vue']).toEqual(expect.arrayContaining(['liveUpdatesPlugin', 'useSubscribe', 'useLiveStatus', 'useNewVersion']));
    expect(esm.modules['live-updates/tanstack-query']).toEqual(['connectQueryClient']);
    expect(esm.modules['live-updates-bridge']).toEqual(expect.arrayContaining(['createBridge', 'bridgeDefaults', 'PROTOCOL_EVENTS']));
    for (const run of [esm, cjs]) {
      expect(run.manifests).toEqual(['live-updates', 'live-updates-bridge']);
      expect(run.protocol.length).toBe(3);
      for (const [client, bridge] of run.protocol) expect(client).toBe(bridge);
    }
  });

  // The script tags are classic scripts that define `LiveUpdates`; they are in the exports map so
  // bundlers and CDNs can address them. In node, import/require evaluates them as a module (no
  // window touched); the slim one reads the page's global `io` (socket.io.js) as it starts and
  // throws without it, by design: given socket.io-client's `io` as that global, it loads.
  it('the script tags (live-updates/global, live-updates/global/slim) resolve, load in node, and define LiveUpdates as classic scripts', () => {
    type Report = Record<string, string>;
    const esm = nodeJson<Report>(
      'global.mjs',
      `import { io } from 'socket.io-client';
const out = {};
out.global = typeof (await import('live-updates/global'));
out.slimWithoutIo = await import('live-updates/global/slim').then(() => 'loaded', (error) => error.message);
globalThis.io = io;
// A second evaluation of the same file (the first one's failure is cached under its URL).
out.slimWithIo = await import(import.meta.resolve('live-updates/global/slim') + '?with-io').then(() => 'loaded', (error) => error.message);
console.log(JSON.stringify(out));`,
    );
    expect(esm).toEqual({ global: 'object', slimWithoutIo: expect.stringContaining('needs the socket.io client first'), slimWithIo: 'loaded' });
    const cjs = nodeJson<Report>(
      'global.cjs',
      `const vm = require('node:vm');
const { readFileSync } = require('node:fs');
const out = {};
out.globalPath = require.resolve('live-updates/global');
out.slimPath = require.resolve('live-updates/global/slim');
globalThis.io = require('socket.io-client').io;
require('live-updates/global');
require('live-updates/global/slim');
out.required = 'both';
// As a <script> runs them: a fresh global scope, no window, no module system.
const run = (file, globals) => { const context = vm.createContext({ ...globals }); vm.runInContext(readFileSync(file, 'utf8'), context); return Object.keys(context.LiveUpdates).sort().join(','); };
out.globalScript = run(out.globalPath, {});
out.slimScript = run(out.slimPath, { io: globalThis.io });
try { run(out.slimPath, {}); out.slimScriptWithoutIo = 'loaded'; } catch (error) { out.slimScriptWithoutIo = error.message; }
console.log(JSON.stringify(out));`,
    );
    expect(realpathSync(cjs.globalPath!)).toBe(realpathSync(join(app, 'node_modules/live-updates/dist/live-updates.global.js')));
    expect(realpathSync(cjs.slimPath!)).toBe(realpathSync(join(app, 'node_modules/live-updates/dist/live-updates.slim.global.js')));
    expect(cjs.required).toBe('both');
    expect(cjs.globalScript).toContain('createLiveUpdates');
    expect(cjs.slimScript).toContain('createLiveUpdates');
    expect(cjs.slimScriptWithoutIo).toContain('needs the socket.io client first');
  });

  it('a TypeScript file importing every subpath type-checks with moduleResolution node16 (ESM and CJS) and bundler', () => {
    // Each `@ts-expect-error` fails the check if its import resolved to `any` (or not at all).
    const consumer = `import { createLiveUpdates, type Change, type LiveUpdates } from 'live-updates';
import { LiveUpdatesProvider, useSubscribe, type LiveUpdatesProviderProps } from 'live-updates/react';
import { liveUpdatesPlugin, useLiveStatus as useVueStatus } from 'live-updates/vue';
import { connectQueryClient, type QueryClientConnection } from 'live-updates/tanstack-query';
import { createBridge, bridgeDefaults, type Bridge, type BridgeOptions } from 'live-updates-bridge';
import { QueryClient } from '@tanstack/query-core';
import 'live-updates/global';
import 'live-updates/global/slim';
// @ts-expect-error the bridge is its own package now, not a subpath of live-updates
import { createBridge as old } from 'live-updates/bridge';

const live: LiveUpdates = createLiveUpdates({ url: 'http://127.0.0.1:3001' });
// @ts-expect-error the options are typed
createLiveUpdates({ url: 3001 });
const props: LiveUpdatesProviderProps = { live, children: null };
const provider: typeof LiveUpdatesProvider = LiveUpdatesProvider;
const hook: (resource: string, handler: (change: Change) => void) => void = useSubscribe;
// @ts-expect-error useSubscribe wants a resource name
useSubscribe(42, () => {});
const plugin: typeof liveUpdatesPlugin = liveUpdatesPlugin;
const status: () => { readonly value: { state: string } } = useVueStatus;
const connection: QueryClientConnection = connectQueryClient(live, new QueryClient(), { resources: ['books'] });
const options: BridgeOptions = { port: 0, redisUrl: 'redis://127.0.0.1:6379' };
const started: Promise<Bridge> = createBridge(options);
const port: number = bridgeDefaults.port;
// @ts-expect-error the bridge's options are typed
createBridge({ port: 'any' });
// One protocol: the client's Change is what the bridge publishes.
const change: Change = { resource: 'books', action: 'update', id: 7, obj: { title: 'Dune' } };
const publish = (bridge: Bridge) => bridge.publishChange(change);
export { old, props, provider, hook, plugin, status, connection, started, port, publish };
`;
    // A server-side file: the bridge alone, with Node's types and no DOM library.
    const server = `import { createBridge, createSilentLogger, type Bridge, type Change } from 'live-updates-bridge';
const started: Promise<Bridge> = createBridge({ port: 0, logger: createSilentLogger() });
const change: Change = { resource: 'books', action: 'destroy', id: 7 };
// @ts-expect-error the bridge's Change is typed
const wrong: Change = { resource: 'books', action: 'explode', id: 7 };
export { started, change, wrong };
`;
    const check = (name: string, compilerOptions: Record<string, unknown>, files: Record<string, string>) => {
      const dir = join(app, name);
      mkdirSync(dir, { recursive: true });
      for (const [file, code] of Object.entries(files)) writeFileSync(join(dir, file), code);
      const tsconfig = { compilerOptions: { strict: true, noEmit: true, skipLibCheck: false, types: ['node'], lib: ['ES2022', 'DOM'], ...compilerOptions }, files: Object.keys(files) };
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
      const result = spawnSync(process.execPath, [TSC, '-p', join(dir, 'tsconfig.json')], { cwd: dir, env: cleanEnv(), encoding: 'utf8', timeout: 120_000 });
      return `${result.stdout}${result.stderr}`.trim() + (result.status === 0 ? '' : `\n(exit ${String(result.status)})`);
    };
    // .mts resolves through the exports' `import` conditions, .cts through `require`.
    expect(check('types-node16', { module: 'node16', moduleResolution: 'node16', target: 'ES2022' }, { 'esm.mts': consumer, 'cjs.cts': consumer })).toBe('');
    expect(check('types-bundler', { module: 'ESNext', moduleResolution: 'bundler', target: 'ES2022' }, { 'app.ts': consumer })).toBe('');
    expect(check('types-server', { module: 'node16', moduleResolution: 'node16', target: 'ES2022', lib: ['ES2022'] }, { 'server.mts': server, 'server.cts': server })).toBe('');
  }, 180_000);

  it('the bin: live-updates-bridge --help runs from the installed package', () => {
    const bin = join(app, 'node_modules/.bin/live-updates-bridge');
    expect(lstatSync(bin).isSymbolicLink()).toBe(true);
    expect(realpathSync(bin)).toBe(realpathSync(join(app, 'node_modules/live-updates-bridge/dist/cli.js')));
    // Run as the shell runs it (shebang and exec bit), not through `node`.
    const result = spawnSync(bin, ['--help'], { cwd: app, env: cleanEnv(), encoding: 'utf8', timeout: 30_000 });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^Usage: live-updates-bridge \[options\]/);
    expect(result.stdout).toContain('live-updates-bridge version set <version>');
  });

  it('the installed bridge (embedded bus) delivers a published change to the installed client', () => {
    const got = nodeJson<{ state: string; change: unknown }>(
      'roundtrip.mjs',
      `import { createBridge, createSilentLogger } from 'live-updates-bridge';
import { createLiveUpdates } from 'live-updates';
const give = setTimeout(() => { console.error('no change within 20 s'); process.exit(1); }, 20_000);
const bridge = await createBridge({ port: 0, logger: createSilentLogger() });
const live = createLiveUpdates({ url: 'http://127.0.0.1:' + bridge.port });
let resolve;
const received = new Promise((r) => (resolve = r));
const unsubscribe = live.subscribe('books', (change) => resolve(change));
await unsubscribe.ready;
await bridge.publishChange({ resource: 'books', action: 'create', id: 7, obj: { title: 'Dune' } });
const change = await received;
const state = live.state;
live.close();
await bridge.close();
clearTimeout(give);
console.log(JSON.stringify({ state, change }));`,
    );
    expect(got.state).toBe('connected');
    expect(got.change).toMatchObject({ resource: 'books', action: 'create', id: 7, obj: { title: 'Dune' } });
  }, 60_000);
});

describe('the workspace', () => {
  it("the root's devDependencies on the server packages (it builds and tests src/bridge) use the bridge package's ranges; both packages have one version", () => {
    const root = readJson<Manifest>(join(ROOT, 'package.json'));
    const bridge = readJson<Manifest>(join(BRIDGE_ROOT, 'package.json'));
    expect(bridge.version).toBe(root.version);
    const server = Object.keys(bridge.dependencies ?? {}).filter((name) => !(name in (root.dependencies ?? {})));
    expect(server.length).toBeGreaterThan(3);
    expect(Object.fromEntries(server.map((name) => [name, root.devDependencies?.[name]]))).toEqual(Object.fromEntries(server.map((name) => [name, bridge.dependencies![name]])));
    // What both packages need at run time has one range in both.
    for (const name of Object.keys(bridge.dependencies ?? {}).filter((dep) => dep in (root.dependencies ?? {}))) expect(bridge.dependencies![name], name).toBe(root.dependencies![name]);
  });
});
