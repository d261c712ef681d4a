// One config for the repository's two packages (npm workspaces):
// - live-updates (this directory): the browser library (ESM + CJS, dependencies external), its
//   types (.d.ts + .d.cts), the self-contained script tag (minified IIFE, socket.io-client bundled
//   in), the slim script tag (the same IIFE on the page's own socket.io client), and the framework
//   adapters (react, vue, tanstack-query; their frameworks are peers, so external);
// - live-updates-bridge (packages/live-updates-bridge): the Node bridge and its CLI, from
//   src/bridge, written into that package's dist/.
// The protocol both speak (src/subscriptions.ts's PROTOCOL, src/messages.ts's schemas) is one
// source that both builds compile in: the bridge imports it from src/, never from the published
// client, so the two packages cannot drift and the server pulls in no browser code at run time.
import typescript from '@rollup/plugin-typescript';
import resolve from '@rollup/plugin-node-resolve';
import commonjs from '@rollup/plugin-commonjs';
import terser from '@rollup/plugin-terser';
import { dts } from 'rollup-plugin-dts';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pkg from './package.json' with { type: 'json' };
import bridgePkg from './packages/live-updates-bridge/package.json' with { type: 'json' };

const BRIDGE_DIST = 'packages/live-updates-bridge/dist';

/**
 * What a package's build leaves to its installer: its dependencies and peers (and their subpaths:
 * `zod/mini`, `socket.io/...`) and Node's own modules.
 */
function externalFor({ dependencies = {}, peerDependencies = {} }) {
  const ids = [...Object.keys(dependencies), ...Object.keys(peerDependencies), ...builtinModules, ...builtinModules.map((m) => `node:${m}`)];
  return (id) => ids.some((d) => id === d || id.startsWith(`${d}/`));
}
const external = externalFor(pkg);
const bridgeExternal = externalFor(bridgePkg);
/**
 * No resolver plugin in the library builds: a bare import that is not a declared dependency would
 * be left as an import the installed package cannot resolve. Make that a build error.
 */
const onwarn = (warning, warn) => {
  if (warning.code === 'UNRESOLVED_IMPORT') throw new Error(`${warning.message} (not a dependency of the package it is built into)`);
  warn(warning);
};
/**
 * The slim script tag stops here, before its IIFE reads the page's global `io`, when the page
 * did not load `/socket.io/socket.io.js` first: a clear message instead of "io is not defined".
 */
const needsPageIo =
  'if (typeof io !== "function" || typeof io.Manager !== "function") throw new Error("live-updates.slim.global.js needs the socket.io client first: <script src=\\"/socket.io/socket.io.js\\"></script>");';
const adapters = ['react', 'vue', 'tanstack-query'];
// The adapters' types refer to the library's own (`import type … from './index'`): kept as an
// import of the published index.d.ts / index.d.cts, so the two stay one declaration.
const INDEX = fileURLToPath(new URL('./src/index', import.meta.url));
const isIndex = (id, importer) => importer !== undefined && id.startsWith('.') && path.resolve(path.dirname(importer), id).replace(/\.ts$/, '') === INDEX;
const ts = () => typescript({ tsconfig: './tsconfig.json', include: ['src/**/*.ts'], compilerOptions: { noEmit: false, declaration: false } });

export default [
  // live-updates
  {
    input: { index: 'src/index.ts', ...Object.fromEntries(adapters.map((name) => [name, `src/${name}.ts`])) },
    external,
    onwarn,
    plugins: [ts()],
    output: [
      { dir: 'dist', format: 'esm', entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js', sourcemap: true },
      { dir: 'dist', format: 'cjs', entryFileNames: '[name].cjs', chunkFileNames: 'chunks/[name]-[hash].cjs', sourcemap: true, exports: 'named' },
    ],
  },
  {
    input: 'src/global.ts',
    plugins: [resolve({ browser: true }), commonjs(), ts(), terser({ format: { comments: false } })],
    output: { file: 'dist/live-updates.global.js', format: 'iife', name: 'LiveUpdates', sourcemap: true },
  },
  {
    // The library only imports `io` from socket.io-client as a value (the rest are types), and
    // the global `io` that /socket.io/socket.io.js defines is that lookup function with `.io`,
    // `.Manager` and `.Socket` on it: the page's client serves as the module.
    input: 'src/global.ts',
    external: ['socket.io-client'],
    plugins: [resolve({ browser: true }), commonjs(), ts(), terser({ format: { comments: false } })],
    output: {
      file: 'dist/live-updates.slim.global.js',
      format: 'iife',
      name: 'LiveUpdates',
      globals: { 'socket.io-client': 'io' },
      banner: needsPageIo,
      sourcemap: true,
    },
  },
  ...['d.ts', 'd.cts'].map((ext) => ({
    input: 'src/index.ts',
    external,
    plugins: [dts()],
    output: { file: `dist/index.${ext}`, format: 'esm' },
  })),
  ...adapters.flatMap((name) =>
    ['d.ts', 'd.cts'].map((ext) => ({
      input: `src/${name}.ts`,
      external: (id, importer) => external(id) || isIndex(id, importer),
      plugins: [dts()],
      output: { file: `dist/${name}.${ext}`, format: 'esm', paths: (id) => (id.replace(/\.ts$/, '') === INDEX ? `./index.${ext === 'd.ts' ? 'js' : 'cjs'}` : id) },
    })),
  ),
  // live-updates-bridge: the library (ESM + CJS) and the CLI (ESM, its bin; it keeps its shebang).
  {
    input: { index: 'src/bridge/index.ts', cli: 'src/bridge/cli.ts' },
    external: bridgeExternal,
    onwarn,
    plugins: [ts()],
    output: { dir: BRIDGE_DIST, format: 'esm', entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js', sourcemap: true },
  },
  {
    input: { index: 'src/bridge/index.ts' },
    external: bridgeExternal,
    onwarn,
    plugins: [ts()],
    output: { dir: BRIDGE_DIST, format: 'cjs', entryFileNames: '[name].cjs', chunkFileNames: 'chunks/[name]-[hash].cjs', sourcemap: true, exports: 'named' },
  },
  ...['d.ts', 'd.cts'].map((ext) => ({
    input: 'src/bridge/index.ts',
    external: bridgeExternal,
    plugins: [dts()],
    output: { file: `${BRIDGE_DIST}/index.${ext}`, format: 'esm' },
  })),
];
