/**
 * What the latency profiler and validator need from a space of architectures: random members,
 * and every unit (op instance) a member can contain, so a latency table can cover the space.
 */
import type { Rng } from '../common/rng.js';
import type { ArchSpec } from './archspec.js';
import type { Unit } from './resolve.js';

export interface ArchSpace {
  name: string;
  description: string;
  /** Default input resolution of its members. */
  resolution: number;
  /** A random member at `resolution`. */
  sample(rng: Rng, resolution: number): ArchSpec;
  /** Every unit members at `resolution` can contain (duplicates allowed). */
  units(resolution: number): Iterable<Unit>;
}

const SPACES = new Map<string, ArchSpace>();

export function registerSpace(space: ArchSpace): void {
  SPACES.set(space.name, space);
}

export function registeredSpace(name: string): ArchSpace | undefined {
  return SPACES.get(name);
}

export function registeredSpaceNames(): string[] {
  return [...SPACES.keys()];
}
