import type { Signal, SignalSource } from '../../src/environment';

/** A signal source the test fires by hand; tracks whether it is attached. */
export function createManualSignals() {
  let emit: ((signal: Signal) => void) | null = null;
  const source: SignalSource = (next) => {
    emit = next;
    return () => {
      emit = null;
    };
  };
  return {
    source,
    fire: (signal: Signal) => emit?.(signal),
    isAttached: () => emit !== null,
  };
}
