// DEBIAN/control and the Debian changelog, written from values: the fields are documented in
// deb-control(5) and Debian Policy 5.6; dpkg-deb checks the result when it builds the package.

export type DebArch = 'amd64' | 'arm64';

export interface ControlFields {
  version: string;
  arch: DebArch;
  maintainer: string;
  /** KiB, as dpkg-gencontrol counts: each file rounded up to a whole KiB. */
  installedSize: number;
}

// The binary is Node's official runtime with the agent inside: it links libstdc++ and libgcc_s
// dynamically (readelf -d), and the better-sqlite3 addon it unpacks needs GLIBC_2.34 and
// GLIBCXX_3.4.29 (GCC 11), the highest symbol versions found in it and the runtime (readelf -V).
// adduser: postinst creates the user with it where systemd-sysusers is missing.
const DEPENDS = 'libc6 (>= 2.34), libgcc-s1, libstdc++6 (>= 11), adduser';

export function controlFile(fields: ControlFields): string {
  return `Package: edge-agent
Version: ${fields.version}
Architecture: ${fields.arch}
Maintainer: ${fields.maintainer}
Installed-Size: ${fields.installedSize}
Depends: ${DEPENDS}
Section: admin
Priority: optional
Description: store-and-forward agent for Linux IoT gateways
 edge-agent reads sensors on serial ports (JSON lines, CSV, key=value, regex,
 Modbus RTU), writes every reading to a local SQLite outbox first, and forwards
 the outbox over MQTT to Azure IoT Hub, Alibaba Cloud IoT Platform, Xyte,
 Waylay or any MQTT broker. It runs commands sent from the cloud and reports
 gateway health.
 .
 This package holds one self-contained binary (the Node.js 24 runtime is
 inside), a sandboxed systemd service run as the edge-agent system user, and a
 starter configuration in /etc/edge-agent that sends a simulated sensor to an
 MQTT broker on the same machine.
`;
}

/**
 * A version without a Debian revision (no "-") makes the package native, and a native package's one
 * changelog is changelog.gz (Debian Policy 12.7; lintian: wrong-name-for-changelog-of-native-package).
 */
export function changelogName(version: string): string {
  return version.includes('-') ? 'changelog.Debian.gz' : 'changelog.gz';
}

/** A one-entry changelog; the project's history lives in its repository. */
export function changelogEntry(version: string, maintainer: string, date: Date): string {
  return `edge-agent (${version}) unstable; urgency=medium

  * Release ${version}.

 -- ${maintainer}  ${rfc2822(date)}
`;
}

/** Debian changelogs want "Sat, 28 Nov 2026 01:44:26 +0000"; toUTCString() ends in "GMT". */
function rfc2822(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}

/**
 * The agent's versions are semver; in Debian's ordering "1.4.0-rc.1" would be upstream 1.4.0 with
 * revision rc.1, newer than 1.4.0. A tilde sorts before anything, so "1.4.0~rc.1" < "1.4.0".
 */
export function debianVersion(agentVersion: string): string {
  const version = agentVersion.replace('-', '~');
  if (!/^[0-9][A-Za-z0-9.+~-]*$/.test(version)) throw new Error(`version ${agentVersion} cannot be a Debian version: expected a version such as 1.4.0 or 1.4.0-rc.1`);
  return version;
}
