import type { z } from 'zod';

/** Everything the loader needs to know about one kind's documents (cross-document checks live in ../checks). */
export interface KindDefinition<S extends z.ZodType = z.ZodType> {
  readonly kind: string;
  readonly description: string;
  readonly spec: S;
}

export const defineKind = <S extends z.ZodType>(def: KindDefinition<S>): KindDefinition<S> => def;
