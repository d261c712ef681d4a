// Builds the script tags once per run, from the current src/, with the rollup config's own entries,
// into a private directory: the tests never see a half-written or stale dist/ (npm run build and
// other tools rewrite it), and `npx playwright test` alone tests what the source says.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rollup, type OutputOptions, type RollupOptions } from 'rollup';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Each script tag the e2e tests serve, and the variable that tells the fixtures where it is. */
const SCRIPTS = [
  { name: 'live-updates.global.js', env: 'LIVE_UPDATES_SCRIPT' },
  { name: 'live-updates.slim.global.js', env: 'LIVE_UPDATES_SLIM_SCRIPT' },
] as const;

/** Returns the teardown that removes the private build. */
export default async function globalSetup(): Promise<(() => void) | undefined> {
  const wanted = SCRIPTS.filter(({ env }) => !process.env[env]); // the others were given explicitly
  if (wanted.length === 0) return undefined;
  const cwd = process.cwd();
  process.chdir(ROOT); // the config's paths are relative to the repository
  const dir = mkdtempSync(join(tmpdir(), 'live-updates-e2e-'));
  try {
    const { default: configs } = (await import(join(ROOT, 'rollup.config.mjs'))) as { default: RollupOptions[] };
    for (const { name, env } of wanted) {
      const entry = configs.find((config) => !Array.isArray(config.output) && config.output?.file?.endsWith(`/${name}`));
      if (!entry) throw new Error(`rollup.config.mjs has no entry that writes ${name}`);
      const { output, ...input } = entry;
      const file = join(dir, name);
      const bundle = await rollup({ ...input, onwarn: () => {} });
      await bundle.write({ ...(output as OutputOptions), file, sourcemap: false });
      await bundle.close();
      process.env[env] = file;
    }
    return () => rmSync(dir, { recursive: true, force: true });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  } finally {
    process.chdir(cwd);
  }
}
