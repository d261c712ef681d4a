// Builds the script tag once per run, from the current src/, with the rollup config's own entry,
// into a private directory: the tests never see a half-written or stale dist/ (npm run build and
// other tools rewrite it), and `npx playwright test` alone tests what the source says.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rollup, type OutputOptions, type RollupOptions } from 'rollup';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCRIPT_NAME = 'live-updates.global.js';

/** Returns the teardown that removes the private build. */
export default async function globalSetup(): Promise<(() => void) | undefined> {
  if (process.env.LIVE_UPDATES_SCRIPT) return undefined; // given explicitly
  const cwd = process.cwd();
  process.chdir(ROOT); // the config's paths are relative to the repository
  try {
    const { default: configs } = (await import(join(ROOT, 'rollup.config.mjs'))) as { default: RollupOptions[] };
    const entry = configs.find((config) => !Array.isArray(config.output) && config.output?.file?.endsWith(SCRIPT_NAME));
    if (!entry) throw new Error(`rollup.config.mjs has no entry that writes ${SCRIPT_NAME}`);
    const { output, ...input } = entry;
    const dir = mkdtempSync(join(tmpdir(), 'live-updates-e2e-'));
    const file = join(dir, SCRIPT_NAME);
    const bundle = await rollup({ ...input, onwarn: () => {} });
    await bundle.write({ ...(output as OutputOptions), file, sourcemap: false });
    await bundle.close();
    process.env.LIVE_UPDATES_SCRIPT = file;
    return () => rmSync(dir, { recursive: true, force: true });
  } finally {
    process.chdir(cwd);
  }
}
