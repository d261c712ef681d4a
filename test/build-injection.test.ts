// The README's build-time injection (Version notices → Build-time injection): vite.config.js with
// `define`, rollup.config.mjs with @rollup/plugin-replace, and src/main.js, built as printed with
// the real Vite and rollup, then run: the page's `currentVersion` is the `{ version, build }` the
// CI environment gave the build. `live-updates` is a stand-in here that records its options (the
// library itself is not what is under test; a bundler resolves it like any package).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readmeBlock } from '../e2e/fixtures/readme';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'node_modules/.bin');
/** What CI would set: the commit and the build number. */
const CI_ENV = { GIT_SHA: '3f9c2ab', BUILD_NUMBER: '1234' };

type Recorded = { options: { currentVersion?: unknown; versionUrl?: unknown }; notify: (notice: { latest: string | null; required: boolean }) => void };
declare global {
  // eslint-disable-next-line no-var
  var recorded: Recorded[] | undefined;
  // eslint-disable-next-line no-var
  var banners: string[] | undefined;
}

let dir = '';
beforeAll(() => {
  // Inside the repository, so the configs' `vite` and `@rollup/plugin-replace` resolve from its node_modules.
  dir = mkdtempSync(join(ROOT, '.build-injection-'));
  const files: Record<string, string> = {
    'src/main.js': readmeBlock('build-main').code,
    'vite.config.js': readmeBlock('build-vite').code,
    'rollup.config.mjs': readmeBlock('build-rollup').code,
    // The app's own package.json (else `live-updates` would name this repository itself).
    'package.json': JSON.stringify({ name: 'app', private: true, type: 'module' }),
    'index.html': '<!doctype html><div id="app"></div><script type="module" src="/src/main.js"></script>\n',
    'node_modules/live-updates/package.json': JSON.stringify({ name: 'live-updates', type: 'module', exports: './index.js' }),
    'node_modules/live-updates/index.js': [
      'export function createLiveUpdates(options) {',
      '  const entry = { options, notify: () => {} };',
      '  (globalThis.recorded ??= []).push(entry);',
      '  return { onNewVersion: (listener) => { entry.notify = listener; return () => {}; } };',
      '}',
    ].join('\n'),
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a bundler's CLI in the app's directory with the CI environment; fails the test on a non-zero exit. */
function build(command: string, args: string[]): void {
  const result = spawnSync(join(BIN, command), args, { cwd: dir, env: { ...process.env, ...CI_ENV }, encoding: 'utf8', timeout: 120_000 });
  expect(result.status, `${command} ${args.join(' ')}\n${result.stdout}${result.stderr}`).toBe(0);
}

/** Imports a built bundle and returns what main.js gave createLiveUpdates, and how its banner calls went. */
async function run(file: string) {
  globalThis.recorded = [];
  globalThis.banners = [];
  Object.assign(globalThis, {
    showBanner: ({ reloadNow }: { reloadNow: boolean }) => globalThis.banners!.push(`show${reloadNow ? ' now' : ''}`),
    hideBanner: () => globalThis.banners!.push('hide'),
  });
  await import(/* @vite-ignore */ `${pathToFileURL(file).href}?${Date.now()}`);
  const [page] = globalThis.recorded;
  expect(page).toBeDefined();
  page!.notify({ latest: '8d1e4f0', required: true });
  page!.notify({ latest: null, required: false });
  return { options: page!.options, banners: globalThis.banners };
}

describe('README build-time injection', () => {
  it('Vite: define puts the CI build into the bundle as currentVersion', async () => {
    build('vite', ['build', '--logLevel', 'error']);
    const assets = join(dir, 'dist/assets');
    const entry = readdirSync(assets).find((name) => name.endsWith('.js'));
    expect(entry).toBeDefined();
    const page = await run(join(assets, entry!));
    expect(page.options).toEqual({ currentVersion: { version: '3f9c2ab', build: 1234 }, versionUrl: '/version.json' });
    expect(page.banners).toEqual(['show now', 'hide']);
  });

  it('rollup: @rollup/plugin-replace does the same', async () => {
    build('rollup', ['-c', 'rollup.config.mjs', '--silent']);
    const page = await run(join(dir, 'dist/main.js'));
    expect(page.options).toEqual({ currentVersion: { version: '3f9c2ab', build: 1234 }, versionUrl: '/version.json' });
    expect(page.banners).toEqual(['show now', 'hide']);
  });
});
