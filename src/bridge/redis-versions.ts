// The deploy store on Redis: `set` and `rollback` are one Lua script each run with EVAL, so a
// deploy (INCR the sequence, keep the previous deploy, SET the name and the record, PUBLISH the
// name) is atomic whoever sends it, and works on every Redis (no function library to load).
// The rules are versions.ts's `createMemoryVersions`, written again in Lua because they run
// inside Redis; test/bridge/versions.test.ts runs the same cases against both.
import { checkDeploy, HISTORY_LENGTH, parseDeploy, resolveVersion } from './versions.js';
import type { Deploy, VersionKeys, VersionStore } from './versions.js';

/** What the store needs of a node-redis client. */
export interface VersionClient {
  /** EVAL, with KEYS and ARGV. */
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  /** GET. */
  get(key: string): Promise<string | null>;
  /** LRANGE. */
  lRange(key: string, start: number, stop: number): Promise<string[]>;
}

/**
 * KEYS: name, record, sequence, history. ARGV: channel, command ('set' | 'rollback'), version,
 * build ('' = none), required ('1' | ''), minBuild ('' = none), now (ms), record channel. Builds are stored as
 * given (strings: cjson would round numbers past 14 digits); a build the script makes is the
 * deploy number. Replies with the new record's JSON.
 */
export const DEPLOY_SCRIPT = `
local name = redis.call('GET', KEYS[1])
local raw = redis.call('GET', KEYS[2])
local current, stale = nil, nil
if raw then
  local ok, decoded = pcall(cjson.decode, raw)
  if ok and type(decoded) == 'table' and decoded.version == name then current = decoded
  elseif ok and type(decoded) == 'table' then stale = raw end
end
local at = tonumber(ARGV[7])

local function write(deploy)
  local json = cjson.encode(deploy)
  redis.call('SET', KEYS[1], deploy.version)
  redis.call('SET', KEYS[2], json)
  redis.call('PUBLISH', ARGV[8], json)
  redis.call('PUBLISH', ARGV[1], deploy.version)
  return json
end

if ARGV[2] == 'rollback' then
  local item = redis.call('LPOP', KEYS[4])
  if not item then return redis.error_reply('ERR live-updates: nothing to roll back to') end
  local deploy = cjson.decode(item)
  deploy.deploy = redis.call('INCR', KEYS[3])
  deploy.at = at
  return write(deploy)
end

local version = ARGV[3]
local function keep(json)
  redis.call('LPUSH', KEYS[4], json)
  redis.call('LTRIM', KEYS[4], 0, ${HISTORY_LENGTH - 1})
end
-- The record a classic SET left behind was the deploy before that name.
if stale then keep(stale) end
-- The same code keeps its place in the order: the build a version had before.
local function build_of(wanted)
  if current and current.version == wanted then return current.build end
  for _, item in ipairs(redis.call('LRANGE', KEYS[4], 0, -1)) do
    local ok, deploy = pcall(cjson.decode, item)
    if ok and type(deploy) == 'table' and deploy.version == wanted then return deploy.build end
  end
  return nil
end
-- A name a classic SET left becomes a deploy of its own, so that a rollback can return to it.
if name and not current and name ~= version then
  local seq = redis.call('INCR', KEYS[3])
  current = { version = name, build = build_of(name) or tostring(seq), deploy = seq, at = at }
end
local seq = redis.call('INCR', KEYS[3])
-- A new version without a build comes after the newest numbered build kept (CI numbers), else
-- takes its deploy number: never below a build pages run, which would announce it to nobody.
local function next_build()
  local top = 0
  local function see(build) if tonumber(build) and tonumber(build) > top then top = tonumber(build) end end
  if current then see(current.build) end
  for _, item in ipairs(redis.call('LRANGE', KEYS[4], 0, -1)) do
    local ok, kept = pcall(cjson.decode, item)
    if ok and type(kept) == 'table' then see(kept.build) end
  end
  return string.format('%d', math.max(top + 1, seq))
end
local deploy = { version = version, deploy = seq, at = at }
if ARGV[4] ~= '' then deploy.build = ARGV[4] else deploy.build = build_of(version) or next_build() end
if ARGV[5] == '1' then deploy.required = true end
if ARGV[6] ~= '' then deploy.minBuild = ARGV[6] end
if current and current.version ~= version then keep(cjson.encode(current)) end
return write(deploy)
`;

/** The store on a Redis command connection. */
export function createRedisVersions(client: VersionClient, keys: VersionKeys, now: () => number = Date.now): VersionStore {
  const run = async (args: string[]): Promise<Deploy> => {
    const reply = await client.eval(DEPLOY_SCRIPT, { keys: [keys.key, keys.deployKey, keys.seqKey, keys.historyKey], arguments: [keys.channel, ...args, String(now()), keys.deployChannel] });
    const deploy = parseDeploy(typeof reply === 'string' ? reply : null);
    if (!deploy) throw new Error(`unexpected reply from the deploy script: ${String(reply)}`);
    return deploy;
  };
  const read = async () => {
    const [name, record] = await Promise.all([client.get(keys.key), client.get(keys.deployKey)]);
    return resolveVersion(name, record);
  };
  return {
    async set(version, options) {
      const checked = checkDeploy(version, options);
      return run(['set', checked.version, checked.build, checked.required ? '1' : '', checked.minBuild]);
    },
    async rollback() {
      try {
        return await run(['rollback', '', '', '', '']);
      } catch (error) {
        // Redis's words, without its ERR prefix, as the embedded store says them.
        if (error instanceof Error && /nothing to roll back to/.test(error.message)) throw new Error('nothing to roll back to');
        throw error;
      }
    },
    async show() {
      const [current, items] = await Promise.all([read(), client.lRange(keys.historyKey, 0, -1)]);
      return { current, history: items.map(parseDeploy).filter((deploy): deploy is Deploy => deploy !== null) };
    },
    read,
  };
}
