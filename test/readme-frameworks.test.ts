// The README's React and Vue examples, run in happy-dom against the demo server on a free port,
// with the page's URL set to the demo's origin (the examples use relative URLs, as a page served
// by the app does). The code is the README's: JSX compiled by TypeScript, the single-file
// component by Vue's own compiler, and only the import of `./Books.vue` pointed at the compiled
// file. `live-updates/react` and `live-updates/vue` resolve to this package's dist/ (self-reference).
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { compileScript, parse } from 'vue/compiler-sfc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readmeBlock } from '../e2e/fixtures/readme';
import { ROOT, run } from './helpers/processes';
import { until } from './helpers/server';

let demo: ReturnType<typeof run>;
let origin = '';
let dir = '';

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist/react.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  demo = run(['demo/server.mjs'], { PORT: '0', HOST: '127.0.0.1', REDIS_URL: '' });
  [, origin = ''] = await demo.waitFor(/live-updates demo on (http:\/\/127\.0\.0\.1:\d+)/);
  (window as unknown as { happyDOM: { setURL(url: string): void } }).happyDOM.setURL(`${origin}/`);
  // Inside the package, so that `live-updates/…` and the frameworks resolve as in an app.
  dir = mkdtempSync(join(ROOT, '.readme-example-'));
});
afterAll(() => {
  demo?.child.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const titles = () => Array.from(document.querySelectorAll('#books li'), (li) => li.textContent);
const text = (id: string) => document.getElementById(id)?.textContent ?? null;

/** Runs the mounted example through a create and a deploy, as a user of the demo would. */
async function exercise(newTitle: string, version: string) {
  const books = (await (await fetch(`${origin}/books`)).json()) as Array<{ title: string }>;
  await until(() => titles().length === books.length && text('state') === 'live', 10_000);
  expect(titles()).toEqual(books.map((book) => book.title));
  const response = await fetch(`${origin}/books`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: newTitle, author: 'Octavia E. Butler' }) });
  expect(response.status).toBe(201);
  await until(() => titles().includes(newTitle));
  expect(text('banner')).toBeNull();
  await fetch(`${origin}/deploy`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ version }) });
  await until(() => (text('banner') ?? '').includes(`Version ${version} is out`));
}

function mountPoint(): void {
  document.body.replaceChildren(Object.assign(document.createElement('div'), { id: 'app' }));
}

describe('README framework examples', () => {
  it('the React example renders the books live, the state and the new-version banner', async () => {
    const { lang, code } = readmeBlock('react');
    expect(lang).toBe('jsx');
    const compiled = ts.transpileModule(code, { compilerOptions: { jsx: ts.JsxEmit.ReactJSX, module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
    const file = join(dir, 'react-example.mjs');
    writeFileSync(file, compiled);
    mountPoint();
    await import(/* @vite-ignore */ file);
    await exercise('Parable of the Talents', 'react-example-v2');
  });

  it('the Vue example renders the books live, the state and the new-version banner', async () => {
    const component = readmeBlock('vue-component');
    expect(component.lang).toBe('vue');
    const { descriptor, errors } = parse(component.code, { filename: 'Books.vue' });
    expect(errors).toEqual([]);
    writeFileSync(join(dir, 'Books.vue.mjs'), compileScript(descriptor, { id: 'books', inlineTemplate: true }).content);
    const main = readmeBlock('vue');
    expect(main.code).toContain(`import Books from './Books.vue';`);
    const file = join(dir, 'vue-example.mjs');
    writeFileSync(file, main.code.replace(`from './Books.vue'`, `from './Books.vue.mjs'`));
    mountPoint();
    await import(/* @vite-ignore */ file);
    await exercise('Wild Seed', 'vue-example-v2');
  });
});
