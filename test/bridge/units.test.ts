// @vitest-environment node
// The bridge's small parts: rooms, token bucket, signed tokens, option and CLI checks.
import { describe, expect, it } from 'vitest';
import { createTokenAuthorizer, roomOf, signToken, verifyToken } from '../../src/bridge/index';
import type { AuthRequest } from '../../src/bridge/index';
import { parseCli } from '../../src/bridge/cli-args';
import { resolveOptions } from '../../src/bridge/options';
import { createTokenBucket } from '../../src/bridge/rate-limit';
import { createSilentLogger } from '../../src/bridge/logger';

const secret = 'sixteen-chars-or-more';
const request = (resource: string, scope?: string, auth: Record<string, unknown> = {}, headers: Record<string, string> = {}): AuthRequest => ({ socketId: 's', resource, scope, auth, headers });

describe('roomOf', () => {
  it('cannot be forged by separators in names', () => {
    expect(roomOf('a#b')).not.toBe(roomOf('a', 'b'));
    expect(roomOf('a', 'b#c')).not.toBe(roomOf('a#b', 'c'));
    expect(roomOf('a', '"]')).not.toBe(roomOf('a"', ']'));
    expect(roomOf('orders', 'user:42')).toBe('lu:r:["orders","user:42"]');
  });
});

describe('createTokenBucket', () => {
  it('allows a burst, then the steady rate', () => {
    let now = 0;
    const bucket = createTokenBucket({ burst: 3, perSecond: 2 }, () => now);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    now = 499;
    expect(bucket.take()).toBe(false);
    now = 500;
    expect([bucket.take(), bucket.take()]).toEqual([true, false]);
    now = 60_000; // refills to the burst, no more
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
  });
});

describe('signed tokens', () => {
  const exp = 2_000_000_000;
  it('round-trips, and refuses tampering, expiry and junk', () => {
    const token = signToken({ sub: '42', grants: ['orders#user:42'], exp }, secret);
    expect(verifyToken(token, secret, 0)).toEqual({ sub: '42', grants: ['orders#user:42'], exp });
    expect(verifyToken(token, secret, exp * 1000)).toBeNull();
    const [body, mac] = token.split('.');
    const forgedBody = Buffer.from(JSON.stringify({ grants: ['orders#user:1'], exp })).toString('base64url');
    for (const bad of [`${forgedBody}.${mac}`, `${body}.`, `${body}.${mac}.x`, '', 'a.b', 42, null, `${body}.${mac}x`]) expect(verifyToken(bad, secret, 0)).toBeNull();
    expect(verifyToken(token, 'another-secret-of-16', 0)).toBeNull();
  });

  it('the authorizer allows exact grants only, from auth.token or a bearer header', () => {
    let now = 0;
    const authorize = createTokenAuthorizer({ secret, now: () => now });
    const token = signToken({ grants: ['orders#user:42', 'audit'], exp }, secret);
    expect(authorize(request('orders', 'user:42', { token }))).toBe(true);
    expect(authorize(request('audit', undefined, {}, { authorization: `Bearer ${token}` }))).toBe(true);
    expect(authorize(request('orders', 'user:4', { token }))).toBe(false);
    expect(authorize(request('orders', undefined, { token }))).toBe(false);
    expect(authorize(request('orders#user:42', undefined, { token }))).toBe(false);
    expect(authorize(request('orders', 'user:42'))).toBe(false);
    now = exp * 1000;
    expect(authorize(request('orders', 'user:42', { token }))).toBe(false);
  });

  it('refuses short secrets', () => {
    expect(() => signToken({ grants: [], exp }, 'short')).toThrow(TypeError);
    expect(() => createTokenAuthorizer({ secret: 'short' })).toThrow(TypeError);
  });
});

describe('options', () => {
  it('has documented defaults and refuses bad values', () => {
    const resolved = resolveOptions({ logger: createSilentLogger() });
    expect(resolved).toMatchObject({ privateResources: [], authTimeoutMs: 3000, maxHttpBufferSize: 100_000, subscribeRate: { burst: 50, perSecond: 10 }, maxSubscriptions: 200, maxNameLength: 128, maxChangeSize: 1_000_000 });
    expect(resolved.authUrl).toBeUndefined();
    expect(() => resolveOptions({ authUrl: 'ftp://x' })).toThrow(TypeError);
    expect(() => resolveOptions({ subscribeRate: { burst: 0, perSecond: 1 } })).toThrow(TypeError);
    expect(() => resolveOptions({ privateResources: [''] })).toThrow(TypeError);
    expect(() => resolveOptions({ maxHttpBufferSize: -1 })).toThrow(TypeError);
  });

  it('the CLI reads the new flags, and the token secret from the environment only', () => {
    const command = parseCli(['--auth-url', 'http://app/auth', '--private-resources', 'audit, billing', '--max-http-buffer-size', '5000'], { LU_TOKEN_SECRET: secret });
    expect(command.kind).toBe('run');
    if (command.kind !== 'run') return;
    expect(command.options).toMatchObject({ authUrl: 'http://app/auth', privateResources: ['audit', 'billing'], maxHttpBufferSize: 5000 });
    expect(typeof command.options.authorize).toBe('function');
    expect(() => parseCli(['--token-secret', secret], {})).toThrow();
  });
});
