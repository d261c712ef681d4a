#!/usr/bin/env node
// What the README's two commands need before they run, so that each works on a fresh clone with
// nothing but Node (and, for the tests, root or the Debian packages below). npm runs it as the
// `predemo` and `pretest` scripts; it uses nothing outside Node, since it runs before any install.
//
//   node scripts/setup.mjs deps          the repository's npm dependencies (npm ci), when missing or stale
//   node scripts/setup.mjs deps system   and the Debian packages the tests drive for real
//
// LU_SKIP_SETUP=1 skips it (e.g. a git worktree whose node_modules is a link to another's).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const steps = new Set(process.argv.slice(2));

/**
 * The Debian packages the tests use, each with how to tell it is there. Browsers, Redis, the
 * proxies and the publishers' interpreters are real ones in the tests, never mocks.
 */
const PACKAGES = [
  { packages: ['chromium'], present: () => existsSync('/usr/bin/chromium') || has('chromium') },
  { packages: ['redis-server'], present: () => has('redis-server') },
  { packages: ['redis-tools'], present: () => has('redis-cli') },
  { packages: ['nginx'], present: () => has('nginx') || existsSync('/usr/sbin/nginx') },
  { packages: ['haproxy'], present: () => has('haproxy') || existsSync('/usr/sbin/haproxy') },
  { packages: ['ruby-redis'], present: () => runs('ruby', ['-e', 'require "redis"']) },
  // The README's deploy task runs with rake (test/bridge/publisher-recipes.test.ts).
  { packages: ['rake'], present: () => has('rake') },
  { packages: ['php-cli', 'php-redis'], present: () => runs('php', ['-r', 'exit(class_exists("Redis") ? 0 : 1);']) },
  { packages: ['python3-redis', 'python3-socketio', 'python3-aiohttp'], present: () => runs('/usr/bin/python3', ['-c', 'import redis, socketio, aiohttp']) },
];

function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}
function runs(command, args) {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

/** npm ci when node_modules is missing or was installed from another package-lock.json. */
function deps() {
  const lock = readFileSync(path.join(root, 'package-lock.json'));
  const hash = createHash('sha256').update(lock).digest('hex');
  const marker = path.join(root, 'node_modules', '.live-updates-lock-hash');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === hash) return;
  console.log('setup: installing the npm dependencies (npm ci)');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  writeFileSync(marker, hash);
}

/** apt-get install what is missing (as root on Debian); otherwise say what to install and fail. */
function system() {
  const missing = PACKAGES.filter((entry) => !entry.present()).flatMap((entry) => entry.packages);
  if (missing.length === 0) return;
  const command = `apt-get install -y ${missing.join(' ')}`;
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !has('apt-get')) {
    console.error(`setup: the tests need Debian packages that are missing: ${missing.join(', ')}\n  run: sudo apt-get update && sudo ${command}`);
    process.exit(1);
  }
  console.log(`setup: installing ${missing.join(' ')}`);
  // The tests start their own nginx and HAProxy on free ports: the packages' services must not
  // start (port 80, no init). A policy-rc.d answering 101 denies it, as Debian's images do.
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: ['ignore', 'ignore', 'inherit'], env });
  } finally {
    if (ownPolicy) execFileSync('rm', ['-f', policy]);
  }
}

if (process.env.LU_SKIP_SETUP === '1') process.exit(0);
if (steps.has('deps')) deps();
if (steps.has('system')) system();
