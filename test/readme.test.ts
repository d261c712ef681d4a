// @vitest-environment node
// README.md promises that its examples run as they stand against `npm run demo`, and that every
// marked example is run by some test (checked below by name). The npm example
// is run here, with node, against the demo server on a free port; `import 'live-updates'`
// resolves to this package itself (self-reference through the exports map), so dist/ must be
// built. The script-tag example runs in Chromium: e2e/demo.spec.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { readmeBlock } from '../e2e/fixtures/readme';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEMO_ORIGIN = 'http://127.0.0.1:3000';

/** A child process whose output can be awaited line by line. */
function run(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    output += chunk.toString();
    waiters.forEach((check) => check());
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  let exited = false;
  child.once('exit', () => {
    exited = true;
    waiters.forEach((check) => check());
  });
  return {
    child,
    output: () => output,
    /** Resolves with the first match of `pattern` in the output; rejects if the process exits first. */
    waitFor(pattern: RegExp): Promise<RegExpExecArray> {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const match = pattern.exec(output);
          if (match) {
            waiters.delete(check);
            resolve(match);
          } else if (exited) {
            waiters.delete(check);
            reject(new Error(`${args.join(' ')} exited before printing ${pattern}:\n${output}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
}

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('README examples', () => {
  it('marks a script-tag example (html) and an npm example (js)', () => {
    expect(readmeBlock('script-tag').lang).toBe('html');
    expect(readmeBlock('script-tag').code).toContain('<script src="/live-updates.global.js"></script>');
    expect(readmeBlock('npm').lang).toBe('js');
    expect(readmeBlock('npm').code).toContain(`from 'live-updates'`);
    expect(readmeBlock('npm').code).toContain(DEMO_ORIGIN);
  });

  it('every marked example is read by a test file (by its name, as a string literal)', () => {
    const names = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/<!-- example: ([\w-]+) -->/g)].map((match) => match[1]!);
    const tests = ['test', 'e2e']
      .flatMap((dir) => readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' }).map((file) => join(ROOT, dir, file)))
      .filter((file) => /\.(spec|test)\.ts$|fixtures\/.*\.ts$/.test(file))
      .map((file) => readFileSync(file, 'utf8'))
      .join('\n');
    expect(names.length).toBeGreaterThan(10);
    expect(names.filter((name) => !tests.includes(`'${name}'`))).toEqual([]);
  });

  it('the npm example runs with node against the demo: it loads the books, then hears a create', async () => {
    if (!existsSync(join(ROOT, 'dist/index.js'))) throw new Error('dist/ is missing: run `npm run build` first');
    const demo = run(['demo/server.mjs'], { PORT: '0', HOST: '127.0.0.1', REDIS_URL: '' });
    children.push(demo.child);
    const [, origin] = await demo.waitFor(/live-updates demo on (http:\/\/127\.0\.0\.1:\d+)/);

    // Inside the package, so that `import 'live-updates'` resolves to this package's exports.
    const dir = mkdtempSync(join(ROOT, '.readme-example-'));
    dirs.push(dir);
    const file = join(dir, 'npm-example.mjs');
    writeFileSync(file, readmeBlock('npm').code.replaceAll(DEMO_ORIGIN, origin!));
    const script = run([file]);
    children.push(script.child);

    await script.waitFor(/^state connected connected$/m);
    await script.waitFor(/^loaded 3 books \(subscribed\)\nready$/m);
    const response = await fetch(`${origin}/books`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'Parable of the Sower', author: 'Octavia E. Butler' }),
    });
    expect(response.status).toBe(201);
    const book = (await response.json()) as { id: number };
    await script.waitFor(new RegExp(`^create ${book.id} 4 books$`, 'm'));

    await fetch(`${origin}/books/${book.id}`, { method: 'DELETE' });
    await script.waitFor(new RegExp(`^destroy ${book.id} 3 books$`, 'm'));
    // Nothing went wrong on the way: no error events, no warnings.
    expect(script.output()).not.toMatch(/warn|error|invalid|failed/i);
  }, 30_000);
});
