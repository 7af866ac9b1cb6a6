// Ikanos guest SDK for JavaScript: logging.
//
// Owns: `log.trace/debug/info/warn/error(...parts)`, over the WIT `log` import. Records
// end up in the host's tracing output, tagged with the capability. Parts are joined
// with spaces; strings go as is, errors as `Name: message`, anything else as JSON.
// Plain files, no dependencies: copied as is into projects.

import { log as witLog } from "ikanos:capability/log@0.1.0";

function format(parts) {
  return parts
    .map((p) => {
      if (typeof p === "string") return p;
      if (p instanceof Error) return `${p.name}: ${p.message}`;
      try {
        const json = JSON.stringify(p);
        return json === undefined ? String(p) : json;
      } catch {
        return String(p);
      }
    })
    .join(" ");
}

function at(level) {
  return (...parts) => witLog(level, format(parts));
}

export const log = Object.freeze({
  trace: at("trace"),
  debug: at("debug"),
  info: at("info"),
  warn: at("warn"),
  error: at("error"),
});
