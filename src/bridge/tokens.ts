// Signed grants: the app signs `{ sub, grants, exp }` with a secret it shares with the bridge,
// hands the token to its page (which passes it as `auth: { token }`), and the bridge checks it
// without calling the app. HMAC-SHA256 over base64url(JSON), from node:crypto: a JWT library
// would add a dependency and algorithm choices (`alg: none`) we do not want to offer.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AuthorizeHook } from './authorize.js';

/** What a token grants. */
export interface TokenPayload {
  /** Who the token was issued to (for the app's logs; the bridge does not interpret it). */
  sub?: string;
  /**
   * The subscriptions allowed: `'resource#scope'` for a scope (e.g. `'orders#user:42'`), or
   * `'resource'` for a private unscoped resource. Exact matches only; resources whose name
   * contains `#` cannot be granted by token.
   */
  grants: string[];
  /** Expiry, in seconds since the epoch (as JWT's `exp`). */
  exp: number;
}

const MIN_SECRET_LENGTH = 16;

function checkSecret(secret: string): void {
  if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) throw new TypeError(`token secret must be a string of at least ${MIN_SECRET_LENGTH} characters`);
}

const mac = (data: string, secret: string): Buffer => createHmac('sha256', secret).update(data).digest();

/**
 * Signs a token on the app side (Node). Other languages: `base64url(json) + '.' + base64url(hmac_sha256(secret, base64url(json)))`.
 * @example
 * const token = signToken({ sub: '42', grants: ['orders#user:42'], exp: Math.floor(Date.now() / 1000) + 3600 }, process.env.LU_TOKEN_SECRET);
 */
export function signToken(payload: TokenPayload, secret: string): string {
  checkSecret(secret);
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${body}.${mac(body, secret).toString('base64url')}`;
}

/** Checks a token's signature and expiry; its payload, or `null`. Never throws. */
export function verifyToken(token: unknown, secret: string, nowMs: number = Date.now()): TokenPayload | null {
  if (typeof token !== 'string' || token.length > 8192) return null;
  const [body, signature, extra] = token.split('.');
  if (!body || !signature || extra !== undefined) return null;
  const expected = mac(body, secret);
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!payload || typeof payload !== 'object') return null;
  const { exp, grants, sub } = payload as Record<string, unknown>;
  if (typeof exp !== 'number' || exp * 1000 <= nowMs) return null;
  if (!Array.isArray(grants) || !grants.every((grant) => typeof grant === 'string')) return null;
  return { grants: grants as string[], exp, ...(typeof sub === 'string' ? { sub } : {}) };
}

/** Options of {@link createTokenAuthorizer}. */
export interface TokenAuthorizerOptions {
  /** The secret shared with the app (at least 16 characters). */
  secret: string;
  /**
   * The key of the client's handshake `auth` holding the token; an `Authorization: Bearer` header is used when it is absent.
   * @default 'token'
   */
  key?: string;
  /** Clock for expiry checks, in ms. @default Date.now */
  now?: () => number;
}

/**
 * An `authorize` hook that allows exactly the grants of a valid, unexpired token.
 * @example
 * createBridge({ authorize: createTokenAuthorizer({ secret: process.env.LU_TOKEN_SECRET }) });
 */
export function createTokenAuthorizer(options: TokenAuthorizerOptions): AuthorizeHook {
  const { secret, key = 'token', now = () => Date.now() } = options;
  checkSecret(secret);
  return ({ resource, scope, auth, headers }) => {
    const header = typeof headers.authorization === 'string' && headers.authorization.startsWith('Bearer ') ? headers.authorization.slice(7) : undefined;
    const payload = verifyToken(auth[key] ?? header, secret, now());
    if (!payload || resource.includes('#')) return false;
    return payload.grants.includes(scope === undefined ? resource : `${resource}#${scope}`);
  };
}
