// How much to drop to stay within the configured size. Pure: the SQLite outbox measures, this decides.
import type { OutboxConfig } from './config.ts';

type BudgetConfig = Pick<OutboxConfig, 'maxBytes' | 'reservedBytes'>;

/** The reserved lane's share of maxBytes (at most half, so a small maxBytes still holds telemetry). */
export function reservedBudget(config: BudgetConfig): number {
  return Math.min(config.reservedBytes, Math.floor(config.maxBytes / 2));
}

/** Telemetry may use what the reserved lane does not: a full telemetry buffer never blocks a command reply. */
export function telemetryBudget(config: BudgetConfig): number {
  return config.maxBytes - reservedBudget(config);
}

export interface Usage {
  /** Bytes telemetry occupies (pages in use, less the reserved lane). */
  usedBytes: number;
  budget: number;
  /** Telemetry rows stored. */
  rows: number;
  policy: OutboxConfig['whenFull'];
}

/**
 * How many telemetry rows to drop now. drop-oldest frees 1% below the budget so it runs once every
 * few commits rather than at each; drop-newest trims to the budget exactly, so in effect each new
 * reading beyond it is refused and the backlog is kept.
 */
export function rowsToDrop({ usedBytes, budget, rows, policy }: Usage): number {
  if (usedBytes <= budget || rows === 0) return 0;
  const perRow = usedBytes / rows;
  const target = policy === 'drop-oldest' ? budget * 0.99 : budget;
  return Math.min(rows, Math.ceil((usedBytes - target) / perRow));
}
