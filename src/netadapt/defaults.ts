/** The defaults of a new NetAdapt run's settings (no tfjs loaded: the CLI shows them in its help). */
export const NETADAPT_DEFAULTS = {
  deltaRatio: 0.01,
  deltaDecay: 1,
  metric: 'ratio',
  latencyMissing: 'auto',
  finetuneSteps: 100,
  validationSamples: 2000,
  seed: 0,
  finalEpochs: 0,
} as const;
