// edge-agent(1), made from the CLI's own --help so it cannot drift from it (as help2man does).
// Debian Policy 12.1 wants a manual page for every program in /usr/bin (lintian: no-manual-page).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export function manPage(root: string, version: string, date: Date): string {
  // The CLI from source, run by the Node 24 that runs this script: the same commander program the
  // binary holds, and it runs on any build machine, whatever CPU the packaged binary is for.
  const help = execFileSync(process.execPath, [join(root, 'src/cli/main.ts'), '--help'], { cwd: root, encoding: 'utf8' });
  return `.TH EDGE\\-AGENT 1 "${date.toISOString().slice(0, 10)}" "edge\\-agent ${roff(version)}" "User Commands"
.SH NAME
edge\\-agent \\- store\\-and\\-forward agent for Linux IoT gateways
.SH SYNOPSIS
.B edge\\-agent
[\\fIoptions\\fR] [\\fIcommand\\fR]
.SH DESCRIPTION
.nf
${help.trimEnd().split('\n').map(roff).join('\n')}
.fi
.PP
Each command's own options: \\fBedge\\-agent help\\fR \\fIcommand\\fR.
.SH FILES
.TP
.I /etc/edge\\-agent/agent.config.json
The config: JSON with comments. Check it with \\fBedge\\-agent check\\-config\\fR, apply it with \\fBsystemctl restart edge\\-agent\\fR.
.TP
.I /var/lib/edge\\-agent
The outbox: readings stored until the cloud has them.
.TP
.I /usr/lib/systemd/system/edge\\-agent.service
The service, run as the edge\\-agent user; local changes go in a drop\\-in (\\fBsystemctl edit edge\\-agent\\fR).
.SH SEE ALSO
.BR systemctl (1),
.BR journalctl (1)
`;
}

/** Text as roff shows it literally: backslashes escaped, no line taken for a request, '-' as the ASCII minus options are typed with. */
function roff(line: string): string {
  return line.replaceAll('\\', '\\e').replaceAll('-', '\\-').replace(/^([.'])/, '\\&$1');
}
