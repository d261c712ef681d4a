// Command line and environment -> BridgeOptions, kept apart from cli.ts so it can be tested
// without starting anything.
import { parseArgs } from 'node:util';
import type { BridgeOptions } from './options.js';
import { bridgeDefaults } from './options.js';
import { createTokenAuthorizer } from './tokens.js';
import type { DeployOptions } from './versions.js';

/**
 * What the command line asks for: start a bridge with these options, publish one change, deploy
 * or roll back a version or show it, or print help.
 */
export type CliCommand =
  | { kind: 'run'; options: BridgeOptions }
  | { kind: 'publish'; change: string; options: BridgeOptions }
  | { kind: 'version'; action: 'set'; version: string; deploy: DeployOptions; options: BridgeOptions }
  | { kind: 'version'; action: 'rollback' | 'show'; options: BridgeOptions }
  | { kind: 'help'; text: string };

/** The `--help` text, listing every flag with its environment variable and default. */
export const cliUsage = `Usage: live-updates-bridge [options]
       live-updates-bridge publish '<change as JSON>' --redis <url> [log options]
       live-updates-bridge version set <version> [--build <n|ISO time>] [--required] [--min-build <n|ISO time>] --redis <url>
       live-updates-bridge version rollback --redis <url>
       live-updates-bridge version show --redis <url>

Relays Redis pub/sub (or an embedded bus) to browsers over socket.io. \`publish\` appends one
change to the change log and publishes it (what FCALL lu_publish 0 '<json>' does), prints its
{ epoch, offset } and exits; it needs Redis.

\`version set\` deploys a version in one atomic step: the next deploy number, the deploy before
kept for rollback, SET <version-key> <version> (the plain name, as before) and its record, PUBLISH.
Give --build the value your pages were built with as currentVersion.build (a CI build number or
an ISO time); without it, the version's earlier build, else one past the newest numbered build
(at least its deploy number). --required: pages older than this build must reload; --min-build:
pages below this build must reload.
\`version rollback\` returns to the deploy before the current one (exit 1 when there is none);
\`version show\` prints { current, history }. Each prints JSON on stdout and needs Redis.

  --port <n>             PORT             port to listen on (default ${bridgeDefaults.port}; 0 = any free port)
  --host <addr>          HOST             interface (default ${bridgeDefaults.host}; 0.0.0.0 for all)
  --redis <url>          REDIS_URL        Redis URL; without it an embedded in-memory bus is used
  --origins <list>       LU_ORIGINS       comma-separated allowed origins (default * = any)
  --path <path>          LU_PATH          socket.io path (default ${bridgeDefaults.path})
  --change-channel <c>   LU_CHANGE_CHANNEL  Redis channel of record changes (default ${bridgeDefaults.changeChannel})
  --change-event <e>     LU_CHANGE_EVENT    socket.io event of record changes (default ${bridgeDefaults.changeEvent})
  --version-key <k>      LU_VERSION_KEY     Redis key of the app version (default ${bridgeDefaults.versionKey})
  --version-channel <c>  LU_VERSION_CHANNEL Redis channel of new versions (default ${bridgeDefaults.versionChannel})
  --version-event <e>    LU_VERSION_EVENT   socket.io event of the version (default ${bridgeDefaults.versionEvent})
  --ping-interval <ms>   LU_PING_INTERVAL   heartbeat interval (default ${bridgeDefaults.pingInterval})
  --ping-timeout <ms>    LU_PING_TIMEOUT    heartbeat timeout (default ${bridgeDefaults.pingTimeout})
  --adapter-key <k>      LU_ADAPTER_KEY     socket.io redis adapter/emitter key (default ${bridgeDefaults.adapterKey})
  --private-resources <list> LU_PRIVATE_RESOURCES comma-separated unscoped resources that need the app's permission
  --auth-url <url>       LU_AUTH_URL        app endpoint authorising private subscriptions (POST { socket_id, resource, scope })
  --auth-timeout <ms>    LU_AUTH_TIMEOUT    how long the auth endpoint may take (default ${bridgeDefaults.authTimeoutMs})
                         LU_TOKEN_SECRET    secret of tokens signed with signToken (environment only, never a flag)
  --max-http-buffer-size <bytes> LU_MAX_HTTP_BUFFER_SIZE largest client message (default ${bridgeDefaults.maxHttpBufferSize})
  --refetch-rate <n>     LU_REFETCH_RATE    refetching clients let through per second after a restart (default ${bridgeDefaults.refetchRate}; 0 = off)
  --drain <ms>           LU_DRAIN_MS        on SIGTERM, disconnect clients in even batches over this time (default ${bridgeDefaults.drainMs}: all at once)
  --log-max-length <n>   LU_LOG_MAX_LENGTH  changes kept per resource in the change log (default ${bridgeDefaults.logMaxLength}; 0 = no log)
  --log-max-age <ms>     LU_LOG_MAX_AGE_MS  how long a change stays in the log (default ${bridgeDefaults.logMaxAgeMs})
  --log-key-prefix <p>   LU_LOG_KEY_PREFIX  prefix of the log's Redis keys (default ${bridgeDefaults.logKeyPrefix})
  --build <b>            (version set) the build: a whole number or an ISO time
  --required             (version set) every older page must reload
  --min-build <b>        (version set) pages below this build must reload
  -h, --help             print this help

Flags win over environment variables. GET /healthz answers { ok, redis, clients }.`;

const flags = {
  port: 'PORT',
  host: 'HOST',
  redis: 'REDIS_URL',
  origins: 'LU_ORIGINS',
  path: 'LU_PATH',
  'change-channel': 'LU_CHANGE_CHANNEL',
  'change-event': 'LU_CHANGE_EVENT',
  'version-key': 'LU_VERSION_KEY',
  'version-channel': 'LU_VERSION_CHANNEL',
  'version-event': 'LU_VERSION_EVENT',
  'ping-interval': 'LU_PING_INTERVAL',
  'ping-timeout': 'LU_PING_TIMEOUT',
  'adapter-key': 'LU_ADAPTER_KEY',
  'private-resources': 'LU_PRIVATE_RESOURCES',
  'auth-url': 'LU_AUTH_URL',
  'auth-timeout': 'LU_AUTH_TIMEOUT',
  'max-http-buffer-size': 'LU_MAX_HTTP_BUFFER_SIZE',
  'refetch-rate': 'LU_REFETCH_RATE',
  drain: 'LU_DRAIN_MS',
  'log-max-length': 'LU_LOG_MAX_LENGTH',
  'log-max-age': 'LU_LOG_MAX_AGE_MS',
  'log-key-prefix': 'LU_LOG_KEY_PREFIX',
} as const;

type Flag = keyof typeof flags;

/**
 * Parses argv (without `node` and the script) and the environment. Throws a TypeError with a
 * readable message for unknown flags or bad numbers.
 * @example
 * parseCli(['--port', '4000'], process.env) // { kind: 'run', options: { port: 4000, … } }
 */
export function parseCli(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): CliCommand {
  const stringOptions: Record<string, { type: 'string' }> = Object.fromEntries(
    Object.keys(flags).map((name) => [name, { type: 'string' as const }]),
  );
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { ...stringOptions, help: { type: 'boolean', short: 'h' }, build: { type: 'string' }, required: { type: 'boolean' }, 'min-build': { type: 'string' } },
    strict: true,
    allowPositionals: true,
  });
  if (values.help === true) return { kind: 'help', text: cliUsage };
  const [verb, change, ...extra] = positionals;
  const action = verb === 'version' ? change : undefined;
  const valid =
    verb === undefined ||
    (verb === 'publish' && change !== undefined && extra.length === 0) ||
    (action === 'set' && extra.length === 1) ||
    ((action === 'rollback' || action === 'show') && extra.length === 0);
  if (!valid) throw new TypeError(`unexpected arguments: ${positionals.join(' ')} (the commands are: publish '<json>', version set <version>, version rollback, version show)`);
  const deployFlags = { build: values.build, required: values.required, minBuild: values['min-build'] };
  if (action !== 'set' && Object.values(deployFlags).some((value) => value !== undefined)) throw new TypeError('--build, --required and --min-build go with `version set <version>`');
  const get = (flag: Flag): string | undefined => {
    const fromFlag: unknown = (values as Record<string, unknown>)[flag];
    const value = typeof fromFlag === 'string' ? fromFlag : env[flags[flag]];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const number = (flag: Flag): number | undefined => {
    const value = get(flag);
    if (value === undefined) return undefined;
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < 0) throw new TypeError(`--${flag}: expected a whole number, got "${value}"`);
    return parsed;
  };
  const origins = get('origins');
  const privateResources = get('private-resources');
  const secret = env.LU_TOKEN_SECRET?.trim();
  const options: BridgeOptions = {
    port: number('port'),
    host: get('host'),
    redisUrl: get('redis'),
    origins: origins === undefined || origins === '*' ? undefined : origins.split(',').map((o) => o.trim()).filter(Boolean),
    path: get('path'),
    changeChannel: get('change-channel'),
    changeEvent: get('change-event'),
    versionKey: get('version-key'),
    versionChannel: get('version-channel'),
    versionEvent: get('version-event'),
    pingInterval: number('ping-interval'),
    pingTimeout: number('ping-timeout'),
    adapterKey: get('adapter-key'),
    privateResources: privateResources?.split(',').map((r) => r.trim()).filter(Boolean),
    authUrl: get('auth-url'),
    authTimeoutMs: number('auth-timeout'),
    maxHttpBufferSize: number('max-http-buffer-size'),
    refetchRate: number('refetch-rate'),
    drainMs: number('drain'),
    logMaxLength: number('log-max-length'),
    logMaxAgeMs: number('log-max-age'),
    logKeyPrefix: get('log-key-prefix'),
    authorize: secret ? createTokenAuthorizer({ secret }) : undefined,
  };
  const defined: BridgeOptions = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  if (action === 'set') {
    const deploy: DeployOptions = Object.fromEntries(Object.entries(deployFlags).filter(([, value]) => value !== undefined));
    return { kind: 'version', action, version: extra[0] as string, deploy, options: defined };
  }
  if (action === 'rollback' || action === 'show') return { kind: 'version', action, options: defined };
  return change === undefined ? { kind: 'run', options: defined } : { kind: 'publish', change, options: defined };
}
