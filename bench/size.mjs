// 1. Bundle: gzip and brotli size of the script tag vs socket.io-client's own minified browser
// bundle, compressed exactly as size-limit's file plugin does (gzip -9, brotli -q 11), plus where
// the overhead comes from: the same script tag rebuilt in a temp dir without zod, without mitt,
// and socket.io-client alone through our own rollup pipeline.
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';
import { root, dist, row } from './lib/util.mjs';

const gzip = (buf) => gzipSync(buf, { level: 9 }).length;
const brotli = (buf) => brotliCompressSync(buf, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
const measure = (buf) => ({ raw: buf.length, gzip: gzip(buf), brotli: brotli(buf) });

/** Builds the script tag again with rollup (same plugins as rollup.config.mjs), optionally stubbing modules. */
async function buildVariant(entryCode, stubs, dir) {
  const { rollup } = await import('rollup');
  const { default: resolve } = await import('@rollup/plugin-node-resolve');
  const { default: commonjs } = await import('@rollup/plugin-commonjs');
  const { default: terser } = await import('@rollup/plugin-terser');
  const { default: typescript } = await import('@rollup/plugin-typescript');
  const entry = path.join(dir, 'entry.ts');
  writeFileSync(entry, entryCode);
  const stubPlugin = {
    name: 'bench-stubs',
    resolveId: (id) => (id in stubs ? `\0stub:${id}` : null),
    load: (id) => (id.startsWith('\0stub:') ? stubs[id.slice(6)] : null),
  };
  const bundle = await rollup({
    input: entry,
    onwarn: () => {},
    plugins: [
      stubPlugin,
      resolve({ browser: true, rootDir: root, modulePaths: [path.join(root, 'node_modules')] }),
      commonjs(),
      typescript({ tsconfig: path.join(root, 'tsconfig.json'), include: [path.join(root, 'src/**/*.ts'), entry], compilerOptions: { noEmit: false, declaration: false, rootDir: '/' }, noForceEmit: false }),
      terser({ format: { comments: false } }),
    ],
  });
  const { output } = await bundle.generate({ format: 'iife', name: 'LiveUpdates' });
  await bundle.close();
  return Buffer.from(output[0].code);
}

// Size-only stand-ins: they keep the import shape so the rest of the bundle tree-shakes the same.
const zodStub = `const p = new Proxy(function () {}, { get: () => p, apply: () => p });
export const looseObject = p, object = p, string = p, number = p, int = p, union = p, optional = p, unknown = p, minLength = p, safeParse = p, literal = p, nullable = p, boolean = p, array = p, record = p, any = p, check = p, pipe = p, transform = p;
export { p as enum };`;

async function breakdown(full) {
  const dir = mkdtempSync(path.join(tmpdir(), 'lu-size-'));
  try {
    const globalEntry = `export { createLiveUpdates, RESYNC_EVENT } from ${JSON.stringify(path.join(root, 'src/global.ts'))};\n`;
    const rebuilt = measure(await buildVariant(globalEntry, {}, dir));
    const noZod = measure(await buildVariant(globalEntry, { 'zod/mini': zodStub }, dir));
    const noMitt = measure(await buildVariant(globalEntry, { mitt: `export default () => ({ all: new Map(), on() {}, off() {}, emit() {} });` }, dir));
    const ioOnly = measure(await buildVariant(`export { io } from 'socket.io-client';\n`, {}, dir));
    const part = (key) => ({
      zod: rebuilt[key] - noZod[key],
      mitt: rebuilt[key] - noMitt[key],
      socketIoClientAsWeBundleIt: ioOnly[key],
      ours: rebuilt[key] - ioOnly[key] - (rebuilt[key] - noZod[key]) - (rebuilt[key] - noMitt[key]),
    });
    return { rebuiltMatchesDist: rebuilt.raw === full.raw, rebuilt, gzip: part('gzip'), brotli: part('brotli') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run({ log = console.log } = {}) {
  const ours = measure(readFileSync(dist('live-updates.global.js')));
  const base = measure(readFileSync(path.join(root, 'node_modules/socket.io-client/dist/socket.io.min.js')));
  let parts = null;
  try {
    parts = await breakdown(ours);
  } catch (error) {
    log(`  size breakdown skipped: ${error.message}`);
  }
  const kb = (bytes) => `${(bytes / 1024).toFixed(2)} KB`;
  log(`  script tag ${ours.raw} B raw, ${ours.gzip} B gzip, ${ours.brotli} B brotli; socket.io.min.js ${base.raw} / ${base.gzip} / ${base.brotli}`);
  if (parts) {
    log(`  overhead by part (marginal, gzip): zod ${kb(parts.gzip.zod)}, mitt ${kb(parts.gzip.mitt)}, our code ${kb(parts.gzip.ours)}; socket.io-client through our rollup ${kb(parts.gzip.socketIoClientAsWeBundleIt)}`);
    log(`  overhead by part (marginal, brotli): zod ${kb(parts.brotli.zod)}, mitt ${kb(parts.brotli.mitt)}, our code ${kb(parts.brotli.ours)}; socket.io-client through our rollup ${kb(parts.brotli.socketIoClientAsWeBundleIt)}`);
  }
  const goalBytes = 4 * 1024;
  return {
    rows: [
      row({ name: 'bundle gzip (script tag vs socket.io.min.js)', ours: ours.gzip, baseline: base.gzip, unit: 'bytes', goal: '≤ baseline + 4096 B', met: ours.gzip - base.gzip <= goalBytes }),
      row({ name: 'bundle brotli (script tag vs socket.io.min.js)', ours: ours.brotli, baseline: base.brotli, unit: 'bytes', goal: '(report)', met: null }),
    ],
    detail: { ours, baseline: base, overGzip: ours.gzip - base.gzip, overBrotli: ours.brotli - base.brotli, parts },
  };
}
