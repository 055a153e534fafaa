// Modbus register maps: which reads to make, and how to turn 16-bit words into values.
// Devices disagree on word order for 32/64-bit values (Modicon "big-endian" vs "word-swapped"),
// and a few swap bytes inside words too, so both orders are per-register settings.

export type RegisterTable = 'coils' | 'discrete' | 'holding' | 'input';
export type RegisterType = 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64' | 'bool';

export interface RegisterSpec {
  name: string;
  table: RegisterTable;
  address: number;
  type: RegisterType;
  wordOrder: 'big' | 'little';
  byteOrder: 'big' | 'little';
  scale?: number | undefined;
  offset?: number | undefined;
}

export interface ReadPlan {
  table: RegisterTable;
  address: number;
  count: number;
  registers: RegisterSpec[];
}

const WORDS: Record<RegisterType, number> = { bool: 1, int16: 1, uint16: 1, int32: 2, uint32: 2, float32: 2, float64: 4 };
/** Per request, the protocol's limits: 125 registers, 2000 bits. */
const MAX_COUNT: Record<RegisterTable, number> = { holding: 125, input: 125, coils: 2000, discrete: 2000 };
/** Read across a gap this small rather than make another request (a request costs a bus turnaround). */
const MAX_GAP = 8;

export function widthOf(spec: RegisterSpec): number {
  return spec.table === 'coils' || spec.table === 'discrete' ? 1 : WORDS[spec.type];
}

/** Groups registers into as few reads as possible: adjacent (or nearly) addresses of one table share a request. */
export function planReads(registers: RegisterSpec[]): ReadPlan[] {
  const plans: ReadPlan[] = [];
  for (const table of ['coils', 'discrete', 'holding', 'input'] as const) {
    const sorted = registers.filter((r) => r.table === table).sort((a, b) => a.address - b.address);
    let current: ReadPlan | undefined;
    for (const register of sorted) {
      const end = register.address + widthOf(register);
      if (current && register.address - (current.address + current.count) <= MAX_GAP && end - current.address <= MAX_COUNT[table]) {
        current.count = Math.max(current.count, end - current.address);
        current.registers.push(register);
      } else {
        current = { table, address: register.address, count: end - register.address, registers: [register] };
        plans.push(current);
      }
    }
  }
  return plans;
}

/** Decodes one register's value from the words (or bits) a plan read. */
export function decodeRegister(spec: RegisterSpec, plan: ReadPlan, words: number[] | boolean[]): number | boolean {
  const index = spec.address - plan.address;
  if (plan.table === 'coils' || plan.table === 'discrete') return Boolean(words[index]);
  const raw = (words as number[]).slice(index, index + WORDS[spec.type]);
  if (spec.type === 'bool') return raw[0] !== 0;
  const ordered = spec.wordOrder === 'big' ? raw : [...raw].reverse();
  const buffer = Buffer.alloc(ordered.length * 2);
  ordered.forEach((word, i) => {
    const value = spec.byteOrder === 'big' ? word : ((word & 0xff) << 8) | (word >> 8);
    buffer.writeUInt16BE(value & 0xffff, i * 2);
  });
  let value: number;
  switch (spec.type) {
    case 'int16':
      value = buffer.readInt16BE(0);
      break;
    case 'uint16':
      value = buffer.readUInt16BE(0);
      break;
    case 'int32':
      value = buffer.readInt32BE(0);
      break;
    case 'uint32':
      value = buffer.readUInt32BE(0);
      break;
    case 'float32':
      value = buffer.readFloatBE(0);
      break;
    case 'float64':
      value = buffer.readDoubleBE(0);
      break;
  }
  return value * (spec.scale ?? 1) + (spec.offset ?? 0);
}

/** The words a value occupies, for tests and simulators (the inverse of decodeRegister without scaling). */
export function encodeRegister(spec: Pick<RegisterSpec, 'type' | 'wordOrder' | 'byteOrder'>, value: number): number[] {
  const buffer = Buffer.alloc(WORDS[spec.type] * 2);
  switch (spec.type) {
    case 'int16':
      buffer.writeInt16BE(value);
      break;
    case 'uint16':
    case 'bool':
      buffer.writeUInt16BE(value);
      break;
    case 'int32':
      buffer.writeInt32BE(value);
      break;
    case 'uint32':
      buffer.writeUInt32BE(value);
      break;
    case 'float32':
      buffer.writeFloatBE(value);
      break;
    case 'float64':
      buffer.writeDoubleBE(value);
      break;
  }
  const words: number[] = [];
  for (let i = 0; i < buffer.length; i += 2) {
    const word = buffer.readUInt16BE(i);
    words.push(spec.byteOrder === 'big' ? word : ((word & 0xff) << 8) | (word >> 8));
  }
  return spec.wordOrder === 'big' ? words : words.reverse();
}
