#!/usr/bin/env node
// live-updates-bridge: the bridge as a process. Starts it from flags/env, prints one line when
// listening, and stops gracefully on SIGTERM/SIGINT (clients are told and reconnect elsewhere).
import { createBridge } from './index.js';
import { parseCli } from './cli-args.js';
import { createConsoleLogger, describeError } from './logger.js';
import { createRedisBus, redactUrl } from './redis-bus.js';
import { resolveOptions } from './options.js';
import type { BridgeOptions } from './options.js';
import { checkChange } from './messages.js';
import { versionKeys } from './versions.js';
import type { DeployOptions } from './versions.js';

const logger = createConsoleLogger();

async function main(): Promise<void> {
  let command;
  try {
    command = parseCli(process.argv.slice(2), process.env);
  } catch (error) {
    console.error(`live-updates-bridge: ${describeError(error)}\nTry --help.`);
    process.exit(2);
  }
  if (command.kind === 'help') {
    console.log(command.text);
    return;
  }
  if (command.kind === 'publish') {
    process.exit(await publish(command.change, command.options));
  }
  if (command.kind === 'version') {
    process.exit(await version(command.action, command.action === 'set' ? command.version : '', command.action === 'set' ? command.deploy : {}, command.options));
  }

  // Last line of defence: a stray rejection or exception is logged, never fatal.
  process.on('unhandledRejection', (reason) => logger.error(`unhandled rejection: ${describeError(reason)}`));
  process.on('uncaughtException', (error) => logger.error(`uncaught exception: ${describeError(error)}`));

  const options = { ...command.options, logger };
  const bridge = await createBridge(options);
  const host = options.host ?? '127.0.0.1';
  const bus = options.redisUrl ? `redis ${redactUrl(options.redisUrl)}` : 'embedded bus (no --redis)';
  console.log(`live-updates-bridge listening on http://${host}:${bridge.port} (${bus})`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: closing`);
    // If a close hangs (a dead Redis, a stuck socket), do not hang the deploy with it.
    setTimeout(() => process.exit(0), 10_000).unref();
    bridge.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** The logger of the one-shot commands: their stdout is their JSON result and nothing else. */
const quiet = { ...logger, info: () => undefined };

/** `publish '<json>'`: one change through the Redis change log, its position as JSON on stdout (nothing else); the exit code. */
async function publish(json: string, options: BridgeOptions): Promise<number> {
  const opts = resolveOptions({ ...options, logger: quiet });
  if (!opts.redisUrl) {
    console.error('live-updates-bridge publish: needs --redis <url> (or REDIS_URL): the log lives in Redis');
    return 2;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    parsed = undefined;
  }
  const checked = checkChange(parsed);
  if (!checked.ok) {
    console.error(`live-updates-bridge publish: invalid change: ${checked.ok === false && parsed !== undefined ? checked.error : 'not JSON'}`);
    return 2;
  }
  const bus = await createRedisBus({ url: opts.redisUrl, logger: quiet });
  try {
    const log = await bus.createLog({ maxLength: opts.logMaxLength, maxAgeMs: opts.logMaxAgeMs, channel: opts.changeChannel, keyPrefix: opts.logKeyPrefix, maxChangeSize: opts.maxChangeSize });
    if (!log) throw new Error('the change log needs Redis 7 or later');
    const position = await log.publish(JSON.stringify(checked.value), checked.value.resource, checked.value.scope ?? undefined);
    console.log(JSON.stringify(position));
    return 0;
  } catch (error) {
    console.error(`live-updates-bridge publish: ${describeError(error)}`);
    return 1;
  } finally {
    await bus.close();
  }
}

/**
 * `version set|rollback|show`: one deploy-store command on Redis, its result as JSON on stdout
 * (nothing else: `version show > version.json` must stay JSON); the exit code.
 */
async function version(action: 'set' | 'rollback' | 'show', name: string, deploy: DeployOptions, options: BridgeOptions): Promise<number> {
  const opts = resolveOptions({ ...options, logger: quiet });
  if (!opts.redisUrl) {
    console.error(`live-updates-bridge version ${action}: needs --redis <url> (or REDIS_URL): the version lives in Redis`);
    return 2;
  }
  const bus = await createRedisBus({ url: opts.redisUrl, logger: quiet });
  try {
    const store = bus.createVersions(versionKeys(opts.versionKey, opts.versionChannel));
    const result = action === 'set' ? await store.set(name, deploy) : action === 'rollback' ? await store.rollback() : await store.show();
    console.log(JSON.stringify(result));
    return 0;
  } catch (error) {
    console.error(`live-updates-bridge version ${action}: ${describeError(error)}`);
    return error instanceof TypeError ? 2 : 1;
  } finally {
    await bus.close();
  }
}

main().catch((error: unknown) => {
  logger.error(`could not start: ${describeError(error)}`);
  process.exit(1);
});
