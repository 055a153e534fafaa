// REPORT for the benchmarks that run live sensors: the `report` section given to each of them, as
// JSON, or "change" for the preset the README's figures use. Checked before anything starts, so a
// typo fails at once instead of after a broker and an agent came up.
import { reportSchema } from '../src/sources/report/report-config.ts';

/** Deadband 0.2; the seq counter ignored (every reading would differ); humidity's ±0.5 %RH noise under 1 %RH. */
const CHANGE_PRESET = { mode: 'change', deadband: 0.2, fields: { seq: { ignore: true }, humidity: { deadband: 1 } } };

/** The report section REPORT names, or undefined (every reading); exits 2 on a bad one. */
export function reportFromEnv(bench: string, text = process.env.REPORT): Record<string, unknown> | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = text.trim() === 'change' ? CHANGE_PRESET : JSON.parse(text);
  } catch (error) {
    process.stderr.write(`${bench}: REPORT is neither "change" nor JSON: ${(error as Error).message}\n`);
    process.exit(2);
  }
  const checked = reportSchema.safeParse(value);
  if (!checked.success) {
    process.stderr.write(`${bench}: REPORT is not a valid report section: ${checked.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}\n`);
    process.exit(2);
  }
  return value as Record<string, unknown>;
}
