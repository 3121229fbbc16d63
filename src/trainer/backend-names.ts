/** The tfjs backends in order of preference (a module of its own: command-line options list them without loading tfjs). */
export const BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
