#!/usr/bin/env node
// live-updates-bridge: the bridge as a process. Starts it from flags/env, prints one line when
// listening, and stops gracefully on SIGTERM/SIGINT (clients are told and reconnect elsewhere).
import { createBridge } from './index.js';
import { parseCli } from './cli-args.js';
import { createConsoleLogger, describeError } from './logger.js';
import { redactUrl } from './redis-bus.js';

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

main().catch((error: unknown) => {
  logger.error(`could not start: ${describeError(error)}`);
  process.exit(1);
});
