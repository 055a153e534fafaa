/** One field of a reading: sensors report numbers mostly, but also states and flags. */
export type FieldValue = number | string | boolean | null;

/** What a source hands to the outbox: one sample of one sensor. */
export interface Reading {
  sensorId: string;
  /** Wall-clock time at receipt, epoch milliseconds. */
  ts: number;
  values: Record<string, FieldValue>;
  /** Set when the system clock was not yet synchronized at receipt, so ts may be wrong (a Pi without RTC before NTP). */
  clockUnsynced?: boolean;
}
