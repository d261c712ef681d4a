/**
 * Every run-time problem is reported as an {@link LiveUpdatesError} event, never thrown into the
 * page. Codes are string literals so apps can switch on them.
 */

/** Why an error event was emitted. */
export type LiveUpdatesErrorCode =
  /** A change message failed validation (wrong shape, bad JSON, unknown action…); it was dropped. */
  | 'invalid-message'
  /** A version announcement (socket message, `versionUrl` body, response header) was not a string, a number or `{ version }`; it was ignored. */
  | 'invalid-version'
  /** Polling `versionUrl` failed (network error, an HTTP status other than 200 or 304, no answer within the deadline); polled again at the next interval. */
  | 'version-check-failed'
  /** A subscriber, state, version or error listener threw; the others still ran. */
  | 'handler-error'
  /** A `refetch` attempt rejected, threw or missed its deadline (`attempt` says which); it is retried with backoff. */
  | 'refetch-failed'
  /** The server ended a connection right after accepting it (expired session, ban, connection cap); retried with exponential backoff. */
  | 'kicked'
  /** socket.io could not connect (server down, refused, middleware error); it keeps retrying. */
  | 'connect-error'
  /** The bridge refused a subscription to a private resource or scope; nothing is delivered for it. */
  | 'forbidden'
  /** The bridge could not take a subscription: `unavailable` (auth service down or slow), `rate-limited` or no answer are asked again with backoff; `invalid` is not. */
  | 'subscribe-failed';

/** The payload of {@link LiveUpdates.onError}. */
export interface LiveUpdatesError {
  /** Machine-readable reason. */
  code: LiveUpdatesErrorCode;
  /** Human-readable description. */
  message: string;
  /** The resource involved, when there is one. */
  resource?: string;
  /** The scope involved (a scoped subscription), when there is one. */
  scope?: string;
  /** For `refetch-failed`: which attempt of this catch-up failed (1 = the first). */
  attempt?: number;
  /** The underlying thrown value or validation issue, when there is one. */
  cause?: unknown;
}

/** Builds an error event payload. */
export function createError(code: LiveUpdatesErrorCode, message: string, extra: Pick<LiveUpdatesError, 'resource' | 'scope' | 'attempt' | 'cause'> = {}): LiveUpdatesError {
  return { code, message, ...extra };
}

/** Formats a thrown value for an error message without ever throwing itself. */
export function describe(value: unknown): string {
  if (value instanceof Error) return value.message;
  try {
    return String(value);
  } catch {
    return 'unprintable value';
  }
}
