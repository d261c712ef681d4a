// @vitest-environment node
// README.md promises that its examples run as they stand against `npm run demo`, and that every
// marked example is run by some test (checked below by name). The npm and TanStack Query examples
// are run here, with node, against the demo server on a free port; `import 'live-updates'`
// resolves to this package itself (self-reference through the exports map), so dist/ must be
// built. The script-tag example runs in Chromium: e2e/demo.spec.ts; the React and Vue ones in
// test/readme-frameworks.test.ts.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readmeBlock } from '../e2e/fixtures/readme';
import { ROOT, run } from './helpers/processes';

const DEMO_ORIGIN = 'http://127.0.0.1:3000';

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * Starts the demo on a free port and runs the README's `example` block with node against it,
 * the demo's address in place of DEMO_ORIGIN. The script lives inside the package, so that
 * `import 'live-updates'` resolves to this package's exports.
 */
async function runExample(example: string, built: string) {
  if (!existsSync(join(ROOT, built))) throw new Error('dist/ is missing: run `npm run build` first');
  const demo = run(['demo/server.mjs'], { PORT: '0', HOST: '127.0.0.1', REDIS_URL: '' });
  children.push(demo.child);
  const [, origin = ''] = await demo.waitFor(/live-updates demo on (http:\/\/127\.0\.0\.1:\d+)/);
  const dir = mkdtempSync(join(ROOT, '.readme-example-'));
  dirs.push(dir);
  const file = join(dir, `${example}-example.mjs`);
  writeFileSync(file, readmeBlock(example).code.replaceAll(DEMO_ORIGIN, origin));
  const script = run([file]);
  children.push(script.child);
  return { origin, script };
}

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
    const { origin, script } = await runExample('npm', 'dist/index.js');

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

  it('the TanStack Query example runs with node against the demo: lists and details follow the changes', async () => {
    expect(readmeBlock('tanstack-query').lang).toBe('js');
    const { origin, script } = await runExample('tanstack-query', 'dist/tanstack-query.js');

    const books = (await (await fetch(`${origin}/books`)).json()) as Array<{ id: number; title: string }>;
    await script.waitFor(new RegExp(`^list: ${books.map((book) => book.title).join(', ')}$`, 'm'));
    await script.waitFor(new RegExp(`^book 1: ${books.find((book) => book.id === 1)!.title}$`, 'm'));
    await script.waitFor(/^ready$/m);

    const created = await fetch(`${origin}/books`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'Kindred', author: 'Octavia E. Butler' }) });
    expect(created.status).toBe(201);
    await script.waitFor(/^list: .*, Kindred$/m);
    // The detail comes from the change itself (the list is refetched, the detail updated in place).
    await fetch(`${origin}/books/1`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'Renamed by a PATCH' }) });
    await script.waitFor(/^book 1: Renamed by a PATCH$/m);
    await script.waitFor(/^list: Renamed by a PATCH, /m);
    expect(script.output()).not.toMatch(/warn|error|invalid|failed/i);
  }, 30_000);
});
