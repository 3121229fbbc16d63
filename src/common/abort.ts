/** Waiting on work that an AbortSignal may cut short. */
import { InterruptedError } from './errors.js';

/**
 * The promise's value, or an InterruptedError as soon as the signal fires. The work itself goes
 * on: the caller stops it next (a search or NetAdapt closes its pool of training workers, which
 * kills them) and does it again on resume.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new InterruptedError(''));
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
