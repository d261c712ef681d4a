// @vitest-environment node
// The README's one-command publishers (redis-cli, Ruby, Python, PHP), run exactly as printed with
// the interpreters and Redis clients of Debian's packages (redis-tools, ruby-redis, python3-redis,
// php-redis; .ci/run installs them), against a real bridge on a real redis-server and a real
// client: each change arrives with its log offset, so the log holds it for replay.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { Change } from '../../src/index';
import { createCleanups, startBridge, startClient, startRedis, until } from './helpers';

const cleanups = createCleanups();
afterEach(cleanups.run);
const run = promisify(execFile);

const README = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
/** The fenced block right after `<!-- example: <name> -->`. */
function example(name: string): string {
  const marker = `<!-- example: ${name} -->`;
  const at = README.indexOf(marker);
  const block = /^\s*```\w*\n([\s\S]*?)\n```/.exec(README.slice(at + marker.length));
  if (at < 0 || !block) throw new Error(`README.md has no example "${name}"`);
  return block[1] as string;
}

/** How each example runs: the interpreter of Debian's package, and the file it reads. */
const runners = {
  'publish-redis-cli': { command: 'bash', file: 'publish.sh' },
  'publish-ruby': { command: 'ruby', file: 'publish.rb' },
  'publish-python': { command: '/usr/bin/python3', file: 'publish.py' },
  'publish-php': { command: 'php', file: 'publish.php' },
} as const;

describe('README publishers', () => {
  it.each(Object.keys(runners) as Array<keyof typeof runners>)('%s appends to the log and publishes in one command', async (name) => {
    const redis = await startRedis(cleanups);
    const bridge = await startBridge(cleanups, { redisUrl: redis.url }); // loads the Redis functions
    const client = startClient(cleanups, bridge.url);
    const seen: Change[] = [];
    await client.live.subscribe('books', (change) => seen.push(change)).ready;

    const dir = mkdtempSync(join(tmpdir(), 'lu-publisher-'));
    cleanups.add(() => rmSync(dir, { recursive: true, force: true }));
    const { command, file } = runners[name];
    writeFileSync(join(dir, file), example(name));
    await run(command, [join(dir, file)], { env: { ...process.env, REDIS_URL: redis.url } }).catch((error: { stderr?: string }) => {
      throw new Error(`${name} failed: ${error.stderr ?? String(error)}`);
    });

    await until(() => seen.length === 1);
    expect(seen[0]).toMatchObject({ resource: 'books', action: 'create', id: 7, obj: { title: 'Dune' }, offset: 1, epoch: expect.any(String) });
    expect(client.errors).toEqual([]);
  });
});
