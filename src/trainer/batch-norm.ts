/**
 * Batch normalization with a fused training-mode gradient.
 *
 * tfjs-layers' BatchNormalization differentiates its training path through `moments` and the
 * generic FusedBatchNorm gradient, which tiles per-channel factors to the full activation shape:
 * about 20 full-size kernels per layer. This subclass computes the same forward pass and the
 * textbook backward pass (dx = gamma/sigma * (dy - mean(dy) - xhat * mean(dy * xhat))) in a handful.
 * It keeps the class name `BatchNormalization`, so saved models are plain Keras/tfjs models.
 */
import { registeredLayerClass } from './layers.js';
import { tf } from './tf.js';

type LayerArgs = ConstructorParameters<typeof tf.layers.Layer>[0];
interface BatchNormArgs extends NonNullable<LayerArgs> {
  momentum?: number;
  epsilon?: number;
}

interface BatchNormInternals {
  momentum: number;
  epsilon: number;
  gamma: tf.LayerVariable;
  beta: tf.LayerVariable;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

export class FastBatchNormalization extends registeredLayerClass<BatchNormArgs>('BatchNormalization') {
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    if (!kwargs['training'] || x.rank !== 4) return super.call(inputs, kwargs);
    const self = this as unknown as BatchNormInternals;
    return tf.tidy(() => {
      const { output, mean, variance } = normalizeInTraining(x as tf.Tensor4D, self.gamma.read(), self.beta.read(), self.epsilon);
      const decay = 1 - self.momentum;
      for (const [variable, value] of [
        [self.movingMean, mean],
        [self.movingVariance, variance],
      ] as const) {
        variable.write(tf.sub(variable.read(), tf.mul(tf.sub(variable.read(), value), decay)));
      }
      tf.dispose([mean, variance]);
      return output;
    });
  }
}

/**
 * Training-mode BN over N, H, W of an NHWC tensor. Returns the output (differentiable w.r.t. x,
 * gamma, beta) and the batch statistics (kept: the caller disposes them).
 */
export function normalizeInTraining(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number) {
  let mean: tf.Tensor | undefined;
  let variance: tf.Tensor | undefined;
  const count = x.shape[0] * x.shape[1] * x.shape[2];
  const forward = (xIn: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const m = tf.mean(xIn, [0, 1, 2]);
    const centered = tf.sub(xIn, m);
    const v = tf.mean(tf.square(centered), [0, 1, 2]);
    const invStd = tf.rsqrt(tf.add(v, epsilon));
    const xhat = tf.mul(centered, invStd);
    mean = tf.keep(m);
    variance = tf.keep(v);
    save([xhat, invStd, g]);
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const dyT = Array.isArray(dy) ? dy[0]! : dy;
        const [xh, inv, gam] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const dBeta = tf.sum(dyT, [0, 1, 2]);
        const dGamma = tf.sum(tf.mul(dyT, xh), [0, 1, 2]);
        const centeredDy = tf.sub(dyT, tf.div(dBeta, count));
        const dx = tf.mul(tf.sub(centeredDy, tf.mul(xh, tf.div(dGamma, count))), tf.mul(gam, inv));
        return [dx, dGamma, dBeta];
      },
    };
  };
  const op = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0]);
  const output = op(x, gamma, beta);
  return { output, mean: mean!, variance: variance! };
}
