/**
 * Where the bridge writes what it does and what went wrong. Every method takes a message and
 * optional details; none may throw.
 */
export interface BridgeLogger {
  /** Normal life-cycle lines: listening, Redis up, shutting down. */
  info(message: string, ...details: unknown[]): void;
  /** Something was dropped or degraded but the bridge carries on (bad message, Redis down). */
  warn(message: string, ...details: unknown[]): void;
  /** Something failed that an operator should look at. */
  error(message: string, ...details: unknown[]): void;
}

/**
 * A logger that writes to the console with a fixed prefix.
 *
 * @param prefix - put before every line
 * @default prefix `'[live-updates-bridge]'`
 */
export function createConsoleLogger(prefix = '[live-updates-bridge]'): BridgeLogger {
  return {
    info: (message, ...details) => console.log(prefix, message, ...details),
    warn: (message, ...details) => console.warn(prefix, message, ...details),
    error: (message, ...details) => console.error(prefix, message, ...details),
  };
}

/** A logger that drops everything (for tests and embedding). */
export function createSilentLogger(): BridgeLogger {
  const noop = (): void => undefined;
  return { info: noop, warn: noop, error: noop };
}

/** Turns anything thrown into a short, loggable string. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
