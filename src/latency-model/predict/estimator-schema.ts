/**
 * The latency estimator as a table stores it (`estimator` in a table file, written by
 * `nas table fit`): its settings, per op type the coefficients of its features and its
 * leave-one-out error, and what it was fitted on so that a table whose entries changed is fitted
 * again. The residual smoothing needs no more than that: it reads the table's own entries.
 */
import { z } from 'zod';
import { OP_KINDS, type OpKind } from './ops.js';

/** Errors of entries each predicted from a model fitted on the others (relative: predicted / table - 1). */
export const LooStatsSchema = z.strictObject({
  /** Entries predicted. */
  entries: z.int().min(0),
  /** Entries that could not be: the only ones of their op type (nothing left to fit on). */
  unpredictable: z.int().min(0),
  /** Share of the predicted entries within +-10%. */
  within10: z.number().min(0).max(1).nullable(),
  medianAbsError: z.number().min(0).nullable(),
  p90AbsError: z.number().min(0).nullable(),
  maxAbsError: z.number().min(0).nullable(),
});
export type LooStats = z.infer<typeof LooStatsSchema>;

export const OpModelSchema = z.strictObject({
  /** Entries the model was fitted on (those above 0 ms). */
  entries: z.int().min(0),
  /** Entries at 0 ms (an imported table's placeholder for an op timed with another), not fitted. */
  zeroEntries: z.int().min(0),
  /** Milliseconds per unit of each feature, in the order of `features`; all 0 when every entry is. */
  coefficients: z.array(z.number().min(0)),
  loo: LooStatsSchema.nullable(),
});
export type OpModel = z.infer<typeof OpModelSchema>;

export const ESTIMATOR_METHOD = 'nnls-relative+residual-smoothing';

export const EstimatorSchema = z
  .strictObject({
    /** Non-negative least squares of relative errors per op type, times its smoothed residuals. */
    method: z.literal(ESTIMATOR_METHOD),
    features: z.array(z.string()).min(1),
    ridge: z.number().min(0),
    smoothing: z.strictObject({
      coordinates: z.array(z.string()).min(1),
      /** Distance in each coordinate that counts as one unit (a Gaussian kernel's width). */
      scales: z.array(z.number().positive()),
      /** Weight of a zero residual in every average: how far a lone neighbour moves an estimate. */
      shrinkage: z.number().min(0),
    }),
    /** The entries it was fitted on: their count and a digest of keys and latencies. */
    fittedOn: z.strictObject({ entries: z.int().min(0), digest: z.string() }),
    /** One model per op type the table has entries of (`bneck`, `conv`, ...). */
    models: z.partialRecord(z.enum(OP_KINDS as [OpKind, ...OpKind[]]), OpModelSchema),
    /** Over all entries. */
    loo: LooStatsSchema.nullable(),
    command: z.string(),
    date: z.string(),
  })
  .superRefine((estimator, ctx) => {
    const { coordinates, scales } = estimator.smoothing;
    if (scales.length !== coordinates.length)
      ctx.addIssue({
        code: 'custom',
        path: ['smoothing', 'scales'],
        message: `${scales.length} scales for ${coordinates.length} coordinates`,
      });
    for (const [op, model] of Object.entries(estimator.models)) {
      if (model.coefficients.length !== estimator.features.length)
        ctx.addIssue({
          code: 'custom',
          path: ['models', op, 'coefficients'],
          message: `${model.coefficients.length} coefficients for ${estimator.features.length} features`,
        });
    }
  });
export type StoredEstimator = z.infer<typeof EstimatorSchema>;
