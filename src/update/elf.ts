// Which machine an executable is for, from its ELF header (the System V ABI's e_ident and
// e_machine fields; see elf(5)): a binary for the other CPU must be refused before it is run,
// not discovered when systemd fails to start it.
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ET_EXEC = 2;
const ET_DYN = 3;
/** e_machine values (elf(5)) for the CPUs Node 24 runs on here. */
const MACHINES: Record<number, string> = { 62: 'x64', 183: 'arm64', 40: 'arm', 3: 'ia32', 243: 'riscv64' };

export const ELF_HEADER_BYTES = 20;

/** The Node arch name ("x64", "arm64") the header says, or why the bytes are not a Linux executable. */
export function elfArch(header: Buffer): { arch: string } | { problem: string } {
  if (header.length < ELF_HEADER_BYTES || !header.subarray(0, 4).equals(ELF_MAGIC)) return { problem: 'it is not an executable (no ELF header)' };
  if (header[4] !== ELFCLASS64) return { problem: 'it is a 32-bit executable' };
  if (header[5] !== ELFDATA2LSB) return { problem: 'it is a big-endian executable' };
  const type = header.readUInt16LE(16);
  if (type !== ET_EXEC && type !== ET_DYN) return { problem: 'it is an ELF file but not an executable' };
  const machine = header.readUInt16LE(18);
  return { arch: MACHINES[machine] ?? `unknown (ELF machine ${machine})` };
}
