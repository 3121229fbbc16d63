/** How the latency oracle (./oracle.ts) prices ops a table lacks: the values of NetAdapt's --latency-missing (no tfjs loaded to list them). */
export const ORACLE_MISSING = ['auto', 'measure', 'estimate', 'interpolate'] as const;
export type OracleMissing = (typeof ORACLE_MISSING)[number];
