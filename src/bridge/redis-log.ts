// The change log in Redis, as a Redis function library (Redis ≥ 7.0), so that appending to the
// log and publishing are one atomic command that a backend in any language can send:
//
//   FCALL lu_publish 0 '{"resource":"books","action":"create","id":7,"obj":{…}}'
//
// Per (resource, scope) the library keeps a stream of the recent messages (`<prefix>s:<name>`,
// trimmed by MAXLEN and MINID, expiring when idle past the age limit) and a hash with the epoch,
// the last offset and the offset before the last change published without the log
// (`<prefix>m:<name>`, kept META_TTL_MS after the last write or read); a change published
// without the log takes an offset with no entry, so replays across it are refused. `<name>` is
// `<bytes of resource>:<resource>[:<scope>]`, which no other pair can forge. The rules are
// those of `coverage()` in change-log.ts, written again in Lua because they run inside Redis.
//
// A plain PUBLISH sent while no bridge listened (the only one restarting, or its subscriber
// reconnecting) reached nobody, so nothing marked it. Once plain publishers were seen
// (`<prefix>plain`, set by every unlogged mark, kept META_TTL), a bridge that starts listening
// alone counts a deaf spell (`<prefix>deaf`, INCR); each log takes it, when next written or read,
// as a change without the log at that point: positions from before it refetch, later ones replay.
// Apps whose publishers all use the log never pay for it: their bridge restarts replay.
import type { ChangeLog, LogLimits, LogPosition, LogReply, NotCovered } from './change-log.js';
import { META_TTL_MS } from './change-log.js';
import type { BridgeLogger } from './logger.js';
import { describeError } from './logger.js';

/** Room that `stamp` needs in a message for `,"offset":…,"epoch":"…"`, in bytes. */
export const STAMP_ROOM = 64;

/** The functions the library registers, as a backend calls them. */
export const LOG_FUNCTIONS = { publish: 'lu_publish', since: 'lu_since', unlogged: 'lu_unlogged', listening: 'lu_listening' } as const;

/** Options of the library: the same in every bridge process and publisher of one Redis. */
export interface RedisLogOptions extends LogLimits {
  /** The change channel the library publishes on. */
  channel: string;
  /** Prefix of the log's keys. */
  keyPrefix: string;
  /** Largest change accepted, in bytes of JSON (before the offset is added). */
  maxChangeSize: number;
}

/** A Lua string literal for any text: every byte as a decimal escape. */
const lua = (text: string): string => `"${[...Buffer.from(text, 'utf8')].map((byte) => `\\${byte}`).join('')}"`;

/** The library's source, for `FUNCTION LOAD REPLACE`. */
export function logLibrary(options: RedisLogOptions): string {
  const metaTtl = Math.max(META_TTL_MS, 2 * options.maxAgeMs);
  return `#!lua name=live_updates
local CHANNEL = ${lua(options.channel)}
local PREFIX = ${lua(options.keyPrefix)}
local MAXLEN = ${Math.floor(options.maxLength)}
local MAXAGE = ${Math.floor(options.maxAgeMs)}
local META_TTL = ${metaTtl}
local MAX_SIZE = ${Math.max(0, options.maxChangeSize - STAMP_ROOM)}
local ACTIONS = { create = true, update = true, destroy = true }

local function fail(message) return redis.error_reply('ERR live-updates: ' .. message) end

local function keys_of(resource, scope)
  local name = #resource .. ':' .. resource
  if scope then name = name .. ':' .. scope end
  return PREFIX .. 's:' .. name, PREFIX .. 'm:' .. name
end

-- The epoch and last offset of a log; a log without them starts a new life (a new epoch, and
-- no stream left from an older one).
-- A deaf spell since the log's last write or read counts as a change without the log, now.
local function open(skey, mkey)
  local meta = redis.call('HMGET', mkey, 'e', 's', 'u', 'd')
  local deaf = redis.call('GET', PREFIX .. 'deaf') or '0'
  if meta[1] then
    local top, unlogged = tonumber(meta[2]), meta[3] and tonumber(meta[3])
    if (meta[4] or '0') ~= deaf then
      top = top + 1
      unlogged = top
      redis.call('HSET', mkey, 's', top, 'u', top, 'd', deaf)
    end
    return meta[1], top, unlogged
  end
  local t = redis.call('TIME')
  local epoch = t[1] .. string.format('%06d', tonumber(t[2]))
  redis.call('DEL', skey)
  redis.call('HSET', mkey, 'e', epoch, 's', 0, 'd', deaf)
  return epoch, 0, false
end

local function check(raw)
  if type(raw) ~= 'string' then return nil, 'expected one argument: the change as JSON' end
  if #raw > MAX_SIZE then return nil, 'the change is ' .. #raw .. ' bytes of JSON, more than ' .. MAX_SIZE end
  if not string.find(raw, '^%s*{') then return nil, 'the change must be a JSON object' end
  local ok, change = pcall(cjson.decode, raw)
  if not ok or type(change) ~= 'table' then return nil, 'the change is not valid JSON' end
  if type(change.resource) ~= 'string' or change.resource == '' then return nil, 'resource must be a non-empty string' end
  if not ACTIONS[change.action] then return nil, 'action must be create, update or destroy' end
  local id = change.id
  if not ((type(id) == 'string' and id ~= '') or (type(id) == 'number' and id == math.floor(id))) then return nil, 'id must be a non-empty string or an integer' end
  local scope = change.scope
  if scope == cjson.null then scope = nil end
  if scope ~= nil and (type(scope) ~= 'string' or scope == '') then return nil, 'scope must be a non-empty string or null' end
  return change, scope
end

local function publish(_, args)
  if #args ~= 1 then return fail('expected one argument: the change as JSON') end
  local raw = args[1]
  local change, scope = check(raw)
  if not change then return fail(scope) end
  local skey, mkey = keys_of(change.resource, scope)
  local epoch, top = open(skey, mkey)
  top = top + 1
  local message = string.sub(raw, 1, string.find(raw, '}%s*$') - 1) .. ',"offset":' .. top .. ',"epoch":"' .. epoch .. '"}'
  local now = redis.call('TIME')
  redis.call('XADD', skey, 'MAXLEN', '~', MAXLEN, '*', 'o', top, 'm', message)
  redis.call('XTRIM', skey, 'MINID', '~', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - MAXAGE)
  redis.call('PEXPIRE', skey, MAXAGE)
  redis.call('HSET', mkey, 's', top)
  redis.call('PEXPIRE', mkey, META_TTL)
  redis.call('PUBLISH', CHANNEL, message)
  return { epoch, top }
end

-- args: resource, scope ('' for none), epoch ('' for no position), offset
local function since(_, args)
  local scope = args[2] ~= '' and args[2] or nil
  local skey, mkey = keys_of(args[1], scope)
  local epoch, top, unlogged = open(skey, mkey)
  redis.call('PEXPIRE', mkey, META_TTL)
  if args[3] == '' then return { 'new', epoch, top } end
  local offset = tonumber(args[4])
  if args[3] ~= epoch or not offset or offset > top then return { 'refetch', epoch, top, 'epoch' } end
  if unlogged and offset < unlogged then return { 'refetch', epoch, top, 'unlogged' } end
  local missed = top - offset
  if missed == 0 then return { 'ok', epoch, top } end
  if missed > MAXLEN then return { 'refetch', epoch, top, 'trimmed' } end
  local entries = redis.call('XREVRANGE', skey, '+', '-', 'COUNT', missed)
  if #entries < missed or tonumber(entries[#entries][2][2]) ~= offset + 1 then return { 'refetch', epoch, top, 'trimmed' } end
  local reply = { 'ok', epoch, top }
  for i = #entries, 1, -1 do reply[#reply + 1] = entries[i][2][4] end
  return reply
end

local function unlogged(_, args)
  local scope = args[2] ~= '' and args[2] or nil
  local _, mkey = keys_of(args[1], scope)
  redis.call('SET', PREFIX .. 'plain', '1', 'PX', META_TTL)
  -- The unlogged change takes an offset of its own, with no entry: replays across it are
  -- refused, and a position handed out after it (offset >= u) is not.
  local top = redis.call('HGET', mkey, 's')
  if not top then return false end
  top = tonumber(top) + 1
  redis.call('HSET', mkey, 's', top, 'u', top)
  return top
end

-- args: the change channel. Called by a bridge each time its subscription to it is in place.
local function listening(_, args)
  local listeners = tonumber(redis.call('PUBSUB', 'NUMSUB', args[1])[2])
  if listeners > 1 or redis.call('EXISTS', PREFIX .. 'plain') == 0 then return 0 end
  return redis.call('INCR', PREFIX .. 'deaf')
end

redis.register_function('${LOG_FUNCTIONS.publish}', publish)
redis.register_function('${LOG_FUNCTIONS.listening}', listening)
redis.register_function('${LOG_FUNCTIONS.since}', since)
redis.register_function('${LOG_FUNCTIONS.unlogged}', unlogged)
`;
}

/** What the log needs of a node-redis client. */
export interface LogClient {
  fCall(name: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  functionLoad(code: string, options: { REPLACE: boolean }): Promise<unknown>;
}

const NOT_COVERED: ReadonlySet<string> = new Set<NotCovered>(['epoch', 'trimmed', 'unlogged', 'unavailable']);

/** Reads the reply of `lu_since`. */
export function readSinceReply(reply: unknown): LogReply {
  if (!Array.isArray(reply) || reply.length < 3) return { status: 'refetch', position: null, reason: 'unavailable' };
  const [status, epoch, top, ...rest] = reply.map(String) as [string, string, string, ...string[]];
  const position: LogPosition = { epoch, offset: Number(top) };
  if (status === 'new') return { status, position };
  if (status === 'ok') return { status, position, messages: rest };
  return { status: 'refetch', position, reason: NOT_COVERED.has(rest[0] ?? '') ? (rest[0] as NotCovered) : 'unavailable' };
}

/**
 * The log on a Redis command connection. The library is loaded now and again each time `reload()`
 * is called (the bus calls it whenever the connection is back: a Redis restarted without
 * persistence has lost it). Log reads and marks go through the same connection, in order.
 */
/** The log in Redis: a ChangeLog, reloaded when the connection is back, told when the bridge listens. */
export interface RedisChangeLog extends ChangeLog {
  /** Loads the library again (a Redis restarted without persistence lost it); whether it loaded. */
  reload(): Promise<boolean>;
  /**
   * The bridge's subscription to the change channel is in place (at start, and after each
   * reconnection of its subscriber): if no other subscriber was there, a deaf spell is counted.
   */
  listening(): void;
}

export function createRedisLog(client: LogClient, logger: BridgeLogger, options: RedisLogOptions): RedisChangeLog {
  const code = logLibrary(options);
  const load = async (): Promise<boolean> => {
    try {
      await client.functionLoad(code, { REPLACE: true });
      return true;
    } catch (error) {
      logger.warn(`could not load the change log's Redis functions (Redis 7 or later needed); changes are published without offsets: ${describeError(error)}`);
      return false;
    }
  };
  /** Calls a function, loading the library once more if Redis lost it. */
  const call = async (name: string, args: string[]): Promise<unknown> => {
    try {
      return await client.fCall(name, { keys: [], arguments: args });
    } catch (error) {
      if (!/function not found/i.test(describeError(error)) || !(await load())) throw error;
      return client.fCall(name, { keys: [], arguments: args });
    }
  };

  return {
    reload: load,
    async publish(json) {
      const reply = await call(LOG_FUNCTIONS.publish, [json]);
      const [epoch, offset] = Array.isArray(reply) ? reply.map(String) : [];
      return { epoch: epoch ?? '', offset: Number(offset) };
    },
    async since(resource, scope, position) {
      const reply = await call(LOG_FUNCTIONS.since, [resource, scope ?? '', position?.epoch ?? '', String(position?.offset ?? 0)]);
      return readSinceReply(reply);
    },
    unlogged(resource, scope) {
      call(LOG_FUNCTIONS.unlogged, [resource, scope ?? '']).catch((error: unknown) => logger.warn(`could not mark an unlogged change of "${resource}": ${describeError(error)}`));
    },
    listening() {
      call(LOG_FUNCTIONS.listening, [options.channel]).then(
        (spell) => Number(spell) > 0 && logger.info('no other bridge was listening: gaps across the spell refetch resources that have had plain PUBLISHes'),
        (error: unknown) => logger.warn(`could not check for a deaf spell: ${describeError(error)}`),
      );
    },
  };
}
