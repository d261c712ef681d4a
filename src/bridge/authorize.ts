// Who may subscribe to what. The bridge does not know the app's users: private subscriptions
// are authorised by the app, either over HTTP (`authUrl`, as Pusher's `/pusher/auth` and
// Laravel Echo's `/broadcasting/auth` do) or by a hook (`authorize`, e.g. a token the app
// signed, see tokens.ts). Public subscriptions need no one's permission.
import type { IncomingHttpHeaders } from 'node:http';
import { describeError } from './logger.js';
import type { BridgeLogger } from './logger.js';

/** Why a subscription was refused, as the client receives it. */
export type RefusalCode = 'forbidden' | 'rate-limited' | 'invalid' | 'unavailable';

/** The answer to one subscription request. */
export type Decision = { ok: true } | { ok: false; code: RefusalCode; message?: string };

/** What an authoriser is asked: one private subscription of one connection. */
export interface AuthRequest {
  /** The socket.io id of the connection asking. */
  socketId: string;
  /** The resource, e.g. `'orders'`. */
  resource: string;
  /** The scope, e.g. `'user:42'`; `undefined` for a private unscoped resource. */
  scope: string | undefined;
  /** Headers of the connection's handshake (`cookie`, `authorization`, `origin`…). */
  headers: IncomingHttpHeaders;
  /** The client's handshake `auth` (its `auth` option, e.g. `{ token }`), without the protocol's own `lu` key. */
  auth: Readonly<Record<string, unknown>>;
}

/** An app-supplied check: true allows, false (or a rejection) refuses. */
export type AuthorizeHook = (request: AuthRequest) => boolean | Promise<boolean>;

/** The options that decide authorisation (see BridgeOptions for their documentation). */
export interface AuthorizerOptions {
  authUrl?: string | undefined;
  authorize?: AuthorizeHook | undefined;
  authTimeoutMs: number;
  logger: BridgeLogger;
}

/** Decides one subscription; never rejects. */
export type Authorizer = (request: AuthRequest) => Promise<Decision>;

const ALLOWED: Decision = { ok: true };

/** Whether (resource, scope) needs the app's permission: every scope, and the listed resources. */
export function createPrivacyRule(privateResources: readonly string[]): (resource: string, scope: string | undefined) => boolean {
  const listed = new Set(privateResources);
  return (resource, scope) => scope !== undefined || listed.has(resource);
}

/**
 * Builds the authoriser of private subscriptions (public ones are never asked: see
 * createPrivacyRule): each must pass every configured check (`authorize`, then `authUrl`);
 * with none configured it is forbidden.
 */
export function createAuthorizer(options: AuthorizerOptions): Authorizer {
  const { authUrl, authorize, authTimeoutMs, logger } = options;
  return async (request) => {
    if (!authUrl && !authorize) return { ok: false, code: 'forbidden', message: 'private subscription, and no authUrl or authorize configured' };
    if (authorize) {
      let allowed: boolean;
      try {
        allowed = (await authorize(request)) === true;
      } catch (error) {
        logger.warn(`authorize hook failed for "${request.resource}": ${describeError(error)}`);
        return { ok: false, code: 'unavailable', message: 'authorisation failed' };
      }
      if (!allowed) return { ok: false, code: 'forbidden' };
    }
    return authUrl ? askAuthUrl(authUrl, request, authTimeoutMs, logger) : ALLOWED;
  };
}

/**
 * POSTs `{ socket_id, resource, scope }` (scope `null` when unscoped) to the app, forwarding the
 * handshake's `cookie` and `authorization` headers; a string `auth.token` becomes
 * `Authorization: Bearer <token>` when the handshake had no authorization header.
 * 2xx allows, 401/403 forbid, anything else (redirects included) or a timeout is 'unavailable'.
 */
export async function askAuthUrl(url: string, request: AuthRequest, timeoutMs: number, logger: BridgeLogger): Promise<Decision> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  const { cookie, authorization } = request.headers;
  if (typeof cookie === 'string') headers.cookie = cookie;
  if (typeof authorization === 'string') headers.authorization = authorization;
  else if (typeof request.auth.token === 'string' && request.auth.token !== '') headers.authorization = `Bearer ${request.auth.token}`;
  const body = JSON.stringify({ socket_id: request.socketId, resource: request.resource, scope: request.scope ?? null });
  try {
    const response = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    // The body means nothing to us; release the connection.
    await response.body?.cancel().catch(() => undefined);
    if (response.status >= 200 && response.status < 300) return ALLOWED;
    if (response.status === 401 || response.status === 403) return { ok: false, code: 'forbidden' };
    logger.warn(`authUrl answered ${response.status} for "${request.resource}"`);
    return { ok: false, code: 'unavailable', message: `auth service answered ${response.status}` };
  } catch (error) {
    logger.warn(`authUrl failed for "${request.resource}": ${describeError(error)}`);
    return { ok: false, code: 'unavailable', message: 'auth service unreachable' };
  }
}
