// @vitest-environment node
// The README's deploy recipes (shell, GitHub Actions step), run as printed against
// a real redis-server, with `npx live-updates-bridge` pointed at this package's built CLI (npx
// would otherwise look the package up in the registry). dist/ must be built. The rake task runs in
// publisher-recipes.test.ts and e2e/recipes.spec.ts, with pages.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readmeBlock } from '../../e2e/fixtures/readme';
import { createCleanups, startRedis } from './helpers';

const CLI = fileURLToPath(new URL('../../packages/live-updates-bridge/dist/cli.js', import.meta.url));
const cleanups = createCleanups();
afterEach(cleanups.run);
beforeAll(() => {
  if (!existsSync(CLI)) throw new Error('packages/live-updates-bridge/dist/cli.js is missing: run `npm run build` first');
});

function workdir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lu-recipe-'));
  cleanups.add(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs a command to its end; its exit code and output. */
function run(command: string, args: string[], cwd: string, env: Record<string, string>) {
  const result = spawnSync(command, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('README deploy recipes', () => {
  it('deploy.sh announces each build, writes public/version.json, and announces the deploy before again when the smoke test fails', async () => {
    const redis = await startRedis(cleanups);
    const dir = workdir();
    const { lang, code } = readmeBlock('deploy-shell');
    expect(lang).toBe('sh');
    writeFileSync(join(dir, 'deploy.sh'), code.replaceAll('npx live-updates-bridge', `node ${JSON.stringify(CLI)}`));
    mkdirSync(join(dir, 'public'));
    writeFileSync(join(dir, 'smoke-test'), '#!/bin/sh\nexit "${SMOKE_EXIT:-0}"\n');
    chmodSync(join(dir, 'smoke-test'), 0o755);
    const deploy = (sha: string, build: number, smoke: number) => run('sh', ['deploy.sh'], dir, { GIT_SHA: sha, BUILD_NUMBER: String(build), REDIS_URL: redis.url, SMOKE_EXIT: String(smoke) });
    const file = () => JSON.parse(readFileSync(join(dir, 'public/version.json'), 'utf8')) as Record<string, unknown>;

    expect(deploy('3f9c2ab', 101, 0).code).toBe(0);
    expect(file()).toMatchObject({ version: '3f9c2ab', build: 101, deploy: 1 });
    expect(deploy('8d1e4f0', 102, 0).code).toBe(0);
    const failed = deploy('c0ffee1', 103, 1);
    expect(failed.code).toBe(1);
    expect(file()).toMatchObject({ version: '8d1e4f0', build: 102, deploy: 4 });
    expect(await redis.client.get('app-version')).toBe('8d1e4f0');
  });

  it('the GitHub Actions steps: announce, and roll back only after a failure once the announcement went out', async () => {
    const redis = await startRedis(cleanups);
    const dir = workdir();
    const { lang, code } = readmeBlock('deploy-github');
    expect(lang).toBe('yaml');
    const steps = code.split('- name: ').slice(1).map((step) => ({
      name: step.split('\n')[0]!,
      run: /^\s*run: (.+)$/m.exec(step)?.[1] ?? '',
      condition: /^\s*if: (.+)$/m.exec(step)?.[1] ?? '',
    }));
    expect(steps.map((step) => step.name)).toEqual(['Announce the new version to open tabs', 'Smoke test', 'Announce the deploy before again']);
    expect(steps[2]!.condition).toBe(`failure() && steps.announce.outcome == 'success'`);
    const step = (index: number, env: Record<string, string>) => run('sh', ['-c', steps[index]!.run.replaceAll('npx live-updates-bridge', `node ${JSON.stringify(CLI)}`)], dir, { REDIS_URL: redis.url, ...env });
    expect(step(0, { GITHUB_SHA: '3f9c2ab', GITHUB_RUN_NUMBER: '41' }).code).toBe(0);
    expect(step(0, { GITHUB_SHA: '8d1e4f0', GITHUB_RUN_NUMBER: '42' }).code).toBe(0);
    expect(step(2, {}).code).toBe(0);
    expect(JSON.parse((await redis.client.get('app-version:deploy'))!)).toMatchObject({ version: '3f9c2ab', build: '41', deploy: 3 });
  });
});
