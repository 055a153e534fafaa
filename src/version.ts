// Updated at release. BUILD_TIME is a floor for the wall clock: no correct clock can be earlier.
export const AGENT_VERSION = '0.1.0';
export const BUILD_TIME = Date.parse('2026-11-01T00:00:00Z');
