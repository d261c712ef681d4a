// Child processes whose output a test awaits line by line: the demo server, README examples.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the package this test suite builds). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** Runs `node ...args` in the repository root; its output can be awaited. */
export function run(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    output += chunk.toString();
    waiters.forEach((check) => check());
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  let exited = false;
  child.once('exit', () => {
    exited = true;
    waiters.forEach((check) => check());
  });
  return {
    child,
    output: () => output,
    /** Resolves with the first match of `pattern` in the output; rejects if the process exits first. */
    waitFor(pattern: RegExp): Promise<RegExpExecArray> {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const match = pattern.exec(output);
          if (match) {
            waiters.delete(check);
            resolve(match);
          } else if (exited) {
            waiters.delete(check);
            reject(new Error(`${args.join(' ')} exited before printing ${pattern}:\n${output}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
}

