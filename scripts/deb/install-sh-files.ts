// The package installs the same service user, starter config and unit as scripts/install.sh, so a
// gateway set up either way behaves the same. Rather than keep second copies in step by hand, they
// are taken from install.sh and systemd/edge-agent.service at build time; a change there that this
// code no longer recognises stops the build with the place to look, instead of shipping a stale copy.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const NAME = 'edge-agent';

/** Where the package puts the binary: Debian policy installs packaged programs to /usr/bin. */
export const PACKAGED_BINARY = `/usr/bin/${NAME}`;
const INSTALL_SH_BINARY = `/usr/local/bin/${NAME}`;

export interface InstallShFiles {
  sysusers: string;
  starterConfig: string;
  unit: string;
}

export function installShFiles(root: string): InstallShFiles {
  const installSh = join(root, 'scripts/install.sh');
  const script = readFileSync(installSh, 'utf8');
  const sysusers = heredoc(script, 'cat >"$SYSUSERS_DEST" <<EOF', installSh);
  // "written by install.sh" would send a technician looking for a script a package install never ran.
  const starterConfig = heredoc(script, 'cat >"$1" <<EOF', installSh).replace('written by install.sh', `installed by the ${NAME} package`);
  return { sysusers, starterConfig, unit: packagedUnit(join(root, 'systemd', `${NAME}.service`)) };
}

/** The body of the here-document that starts at `opening`, with install.sh's $NAME filled in. */
function heredoc(script: string, opening: string, file: string): string {
  const start = script.indexOf(`${opening}\n`);
  const end = script.indexOf('\nEOF\n', start);
  if (start < 0 || end < 0) throw new Error(`${file}: no here-document "${opening} ... EOF" found; scripts/deb/install-sh-files.ts reads it, update one to match the other`);
  const body = `${script.slice(start + opening.length + 1, end)}\n`.replaceAll('$NAME', NAME);
  // Any other expansion would need install.sh's run-time values, which a package cannot know.
  const leftover = /\$\{?\w+/.exec(body);
  if (leftover) throw new Error(`${file}: the here-document "${opening}" uses ${leftover[0]}, which only install.sh can fill in; scripts/deb/install-sh-files.ts substitutes $NAME alone`);
  return body;
}

/** The repository's unit with ExecStart pointing at the packaged binary; nothing else changes. */
function packagedUnit(file: string): string {
  const unit = readFileSync(file, 'utf8');
  const execStart = `ExecStart=${INSTALL_SH_BINARY} `;
  if (unit.split(execStart).length !== 2) throw new Error(`${file}: expected exactly one line starting "${execStart}" to point at ${PACKAGED_BINARY}`);
  return unit.replace(execStart, `ExecStart=${PACKAGED_BINARY} `).replace('Installed by scripts/install.sh.', `Installed by the ${NAME} package.`);
}
