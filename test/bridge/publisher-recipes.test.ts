// @vitest-environment node
// The README's backend recipes (Recipes → From the backend), each run exactly as printed with the
// interpreters and Redis clients of Debian's packages (ruby + ruby-redis + rake, python3-redis,
// redis-tools; .ci/run installs them) against a real bridge on a real redis-server, and heard by
// real live-updates clients. Rails and Django are not in Debian's packages: their snippets run on
// small stand-ins for the framework calls they make (test/bridge/shims/), while their Redis
// connections and commands are real. The deploy task's rollback is also shown in Chromium:
// e2e/recipes.spec.ts.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { prepareDeployTask, runProgram, writeTree } from '../../e2e/fixtures/deploy-task';
import { readmeBlock } from '../../e2e/fixtures/readme';
import { createLiveUpdates, type Change, type VersionChange } from '../../src/index';
import { createShiftedClock } from '../helpers/fake-clock';
import { createManualSignals } from '../helpers/manual-signals';
import { createCleanups, startBridge, startClient, startRedis, until, type Cleanups } from './helpers';

const SHIMS = fileURLToPath(new URL('./shims/', import.meta.url));
const cleanups = createCleanups();
afterEach(cleanups.run);

/** Writes `files` into a fresh directory, removed after the test. */
function workdir(files: Record<string, string>): string {
  const dir = writeTree(files);
  cleanups.add(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A listener added late hears the pending notice in a microtask: after this, it has. */
const pendingDelivered = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A client that keeps every change of `books`, live and loaded. */
async function booksClient(url: string) {
  const client = startClient(cleanups, url);
  const seen: Change[] = [];
  await client.live.subscribe('books', (change) => seen.push(change)).ready;
  return { ...client, seen };
}

/**
 * A live-updates client on a socket of the test's own, so the test also sees what the wire carried:
 * its `app-version` listener is added after the library's, so once it has heard a version the
 * library has too.
 */
function versionClient(cleanupList: Cleanups, url: string) {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnectionDelay: 20, reconnectionDelayMax: 100 });
  const live = createLiveUpdates({ socket, environment: { clock: createShiftedClock(), signals: createManualSignals().source } });
  const wire: string[] = [];
  // The version's name, from a plain string (a classic PUBLISH) or the bridge's deploy record.
  socket.on('app-version', (version: unknown) => wire.push(typeof version === 'object' && version !== null && 'version' in version ? String(version.version) : String(version)));
  const notices: VersionChange[] = [];
  live.onNewVersion((notice) => notices.push(notice));
  cleanupList.add(() => {
    live.close();
    socket.close();
  });
  return { live, wire, notices };
}

describe('README backend recipes', () => {
  /** What both framework recipes' apps do — create Dune, rename it, create Emma and destroy her — as a client hears it. */
  const HEARD = [
    { resource: 'books', action: 'create', id: 1, obj: { id: 1, title: 'Dune' }, offset: 1 },
    { resource: 'books', action: 'update', id: 1, obj: { id: 1, title: 'Dune Messiah' }, offset: 2 },
    { resource: 'books', action: 'create', id: 2, obj: { id: 2, title: 'Emma' }, offset: 3 },
    { resource: 'books', action: 'destroy', id: 2, offset: 4 },
  ];

  /** Runs an app (its files, and the command that runs it) against a bridge on a real redis-server; returns what a client heard. */
  async function runApp(files: Record<string, string>, command: string, args: string[], env: Record<string, string> = {}) {
    const redis = await startRedis(cleanups);
    const bridge = await startBridge(cleanups, { redisUrl: redis.url }); // loads the Redis functions
    const client = await booksClient(bridge.url);
    const run = await runProgram(command, args, { cwd: workdir(files), env: { REDIS_URL: redis.url, ...env } });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    await until(() => client.seen.length === HEARD.length);
    expect(client.errors).toEqual([]);
    return client.seen;
  }

  it('rails-concern: a model that includes the concern announces its create, update and destroy after commit, through the change log', async () => {
    const files = {
      'live_updates.rb': readmeBlock('rails-concern').code,
      // What the app's own code then does with the model.
      'app.rb': [
        "require_relative 'live_updates'",
        "dune = Book.create!(title: 'Dune')",
        "dune.update!(title: 'Dune Messiah')",
        "Book.create!(title: 'Emma').destroy!",
      ].join('\n'),
    };
    expect(await runApp(files, 'ruby', ['-r', join(SHIMS, 'active_record.rb'), 'app.rb'])).toMatchObject(HEARD);
  });

  it('django-signals: post_save and post_delete receivers announce a create, an update and a delete after commit, through the change log', async () => {
    const files = {
      'books/__init__.py': '',
      // The app's model, as Django writes it.
      'books/models.py': 'from django.db import models\n\n\nclass Book(models.Model):\n    title = models.CharField(max_length=200)\n',
      'books/signals.py': readmeBlock('django-signals').code,
      // What BooksConfig.ready() and the app's views then do.
      'app.py': [
        'import django_shim  # noqa: F401 (registers the stand-in django package)',
        'import books.signals  # noqa: F401 (BooksConfig.ready)',
        'from books.models import Book',
        'dune = Book(title="Dune")',
        'dune.save()',
        'dune.title = "Dune Messiah"',
        'dune.save()',
        'emma = Book(title="Emma")',
        'emma.save()',
        'emma.delete()',
      ].join('\n'),
    };
    expect(await runApp(files, '/usr/bin/python3', ['app.py'], { PYTHONPATH: SHIMS })).toMatchObject(HEARD);
  });

  it('deploy-redis-cli: SET and PUBLISH by hand; an open client hears the new version once', async () => {
    const redis = await startRedis(cleanups);
    await redis.client.set('app-version', 'v1');
    const bridge = await startBridge(cleanups, { redisUrl: redis.url });
    const client = versionClient(cleanups, bridge.url);
    await until(() => client.live.version === 'v1');

    const dir = workdir({ 'deploy.sh': readmeBlock('deploy-redis-cli').code });
    const shell = await runProgram('bash', ['deploy.sh'], { cwd: dir, env: { REDIS_URL: redis.url } });
    expect(shell.code).toBe(0);
    expect(await redis.client.get('app-version')).toBe('v2');
    await until(() => client.notices.length === 1);
    expect(client.notices).toEqual([{ current: 'v1', latest: 'v2', required: false }]);
    expect(client.wire).toEqual(['v1', 'v2']);
  });

  describe('deploy-rake', () => {
    /** The app around the task (e2e/fixtures/deploy-task.ts), removed after the test. */
    async function deployApp(smoke: () => Promise<number>) {
      const app = await prepareDeployTask(smoke);
      cleanups.add(app.close);
      return app;
    }

    it('switches and announces the version: open clients are offered it once, clients that connect later run it', async () => {
      const redis = await startRedis(cleanups);
      const bridge = await startBridge(cleanups, { redisUrl: redis.url });
      await bridge.publishVersion('v1', { build: 1 }); // the deploy before, by the same task
      const open = versionClient(cleanups, bridge.url);
      await until(() => open.live.version === 'v1');
      const app = await deployApp(async () => 200);

      const rake = await app.deploy(redis.url, 'v2', 2);
      expect(rake.stderr).toContain('bin/smoke-test');
      expect(rake.code).toBe(0);
      expect(app.releases()).toEqual(['v2']);
      expect(await redis.client.get('app-version')).toBe('v2');
      await until(() => open.notices.length === 1);
      expect(open.notices).toEqual([{ current: 'v1', latest: 'v2', required: false, build: 2 }]);

      const later = versionClient(cleanups, bridge.url);
      await until(() => later.wire.length === 1);
      expect(later.live.version).toBe('v2'); // it runs what it was told on connecting: nothing new
      expect(later.notices).toEqual([]);
    });

    it('a failed smoke test rolls back: the previous release and version again; what each page makes of it', async () => {
      const redis = await startRedis(cleanups);
      const bridge = await startBridge(cleanups, { redisUrl: redis.url });
      await bridge.publishVersion('v1', { build: 1 });
      // Loaded before the deploy: runs v1.
      const before = versionClient(cleanups, bridge.url);
      await until(() => before.live.version === 'v1');
      // Loaded during the bad release (while the smoke test runs): runs v2. Then the test fails.
      let during: ReturnType<typeof versionClient> | undefined;
      let smokeStatus = 500;
      const app = await deployApp(async () => {
        during ??= versionClient(cleanups, bridge.url);
        await until(() => during!.live.version === 'v2');
        return smokeStatus;
      });

      const rake = await app.deploy(redis.url, 'v2', 2);
      expect(rake.code).not.toBe(0);
      expect(rake.stderr).toMatch(/rake aborted!\nCommand failed with status \(1\): \[bin\/smoke-test/);
      expect(app.releases()).toEqual(['v2', 'v1']);
      expect(await redis.client.get('app-version')).toBe('v1');

      // The wire carried the new version, then the previous one again, to both.
      await until(() => before.wire.length === 3 && during!.wire.length === 2);
      expect(before.wire).toEqual(['v1', 'v2', 'v1']);
      expect(during!.wire).toEqual(['v2', 'v1']);
      // The page running v1 was offered v2, and the offer was withdrawn when v1 came back.
      expect(before.notices).toEqual([
        { current: 'v1', latest: 'v2', required: false, build: 2 },
        { current: 'v1', latest: null, required: false },
      ]);
      expect(before.live.availableVersion).toBeNull();
      // The page running v2 is not offered a downgrade.
      await pendingDelivered();
      expect(during!.notices).toEqual([]);
      expect(during!.live.version).toBe('v2');

      // The fix, deployed again under the same version: the latest word again, offered again to
      // the page on v1; the page on v2 runs it.
      smokeStatus = 200;
      const again = await app.deploy(redis.url, 'v2', 2);
      expect(again.code).toBe(0);
      await until(() => before.wire.length === 4 && during!.wire.length === 3);
      await until(() => before.notices.length === 3);
      expect(before.notices[2]).toEqual({ current: 'v1', latest: 'v2', required: false, build: 2 });
      await pendingDelivered();
      expect(during!.notices).toEqual([]);
    });
  });
});
