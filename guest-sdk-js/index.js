// Ikanos guest SDK for JavaScript: write Ikanos capabilities in JavaScript, built into
// WebAssembly components with componentize-js (world `capability` of
// wit/capability.wit, package ikanos:capability@0.1.0).
//
// Owns: the SDK's entry point: `capability`, which turns a map of operations into the
// `handler` export, and the re-exports of the other files. The SDK is these plain ES
// module files, with no dependencies; a project keeps a copy and imports it relatively:
//
//   index.js     capability(), re-exports         request.js   Request
//   errors.js    InvalidInput, NotFound, ...      response.js  Response
//   consumes.js  call(), UpstreamResponse, CallError           log.js  log
//
// A capability module (the file given to componentize-js) exports the WIT `handler`
// interface as `handler`, an object with a `handle` function; `capability` builds it:
//
//   import { capability, call, log, NotFound, Response } from "./ikanos/index.js";
//
//   function getCustomer(req) {                 // exposed operation `get-customer`
//     const id = req.require("id");             // missing -> InvalidInput (400)
//     const upstream = call("crm", "get-customer").param("id", id).send();
//     if (upstream.status === 404) throw new NotFound(`no customer ${id}`);   // 404
//     return Response.json(upstream.errorForStatus().json());
//   }
//
//   export const handler = capability({ "get-customer": getCustomer });
//
// Each operation is `(req: Request) => Response` (or a Promise of one). What it throws
// becomes a WIT `handler-error`: the errors.js classes their own case, a `CallError`
// `upstream` (502) or, for `tunnel-unavailable`, `unavailable` (503); anything else
// `internal` (500) with the exception's message (its stack goes to the log). An
// operation with no entry answers `not-found` (404). The component never traps on an
// exception.
//
// Build: componentize-js <app.js> --wit <dir of capability.wit> --world-name capability
// -d http fetch-event -o <name>.wasm, run from a folder that contains both the app and
// this SDK (componentize-js resolves relative imports only within its working folder).

import { HandlerError, Internal, NotFound } from "./errors.js";
import { CallError } from "./consumes.js";
import { log } from "./log.js";
import { Request } from "./request.js";
import { Response } from "./response.js";

export { HandlerError, InvalidInput, NotFound, Upstream, Internal, Unavailable } from "./errors.js";
export { call, Call, CallError, UpstreamResponse } from "./consumes.js";
export { log } from "./log.js";
export { Request } from "./request.js";
export { Response } from "./response.js";

/**
 * The `handler` export for `operations`, a map from exposed operation key (as written
 * in the capability file) to `(req: Request) => Response | Promise<Response>`.
 * @param {Record<string, (req: Request) => Response | Promise<Response>>} operations
 * @returns {{ handle(request: object): object }}
 */
export function capability(operations) {
  const table = new Map();
  for (const [key, fn] of Object.entries(operations ?? {})) {
    if (typeof fn !== "function") {
      throw new TypeError(`capability(): operation \`${key}\` must be a function, not ${typeof fn}`);
    }
    table.set(key, fn);
  }
  return {
    /** WIT `handler.handle`: never throws; returns `{ tag: 'ok' | 'err', val }`. */
    handle(request) {
      const operation = String(request.operation);
      try {
        const fn = table.get(operation);
        if (fn === undefined) {
          throw new NotFound(`the component has no handler for operation \`${operation}\``);
        }
        const req = new Request(operation, request.inputs, request.body);
        const out = fn(req);
        if (out !== null && typeof out === "object" && typeof out.then === "function") {
          return Promise.resolve(out).then(
            (value) => ok(operation, value),
            (error) => failed(operation, error),
          );
        }
        return ok(operation, out);
      } catch (error) {
        return failed(operation, error);
      }
    },
  };
}

function ok(operation, value) {
  if (!(value instanceof Response)) {
    return failed(
      operation,
      new Internal(
        `operation \`${operation}\` returned ${describe(value)}, not the SDK's Response ` +
          "(build it with Response.json/text/bytes imported from the SDK)",
      ),
    );
  }
  return { tag: "ok", val: value.toWit() };
}

function failed(operation, error) {
  if (error instanceof HandlerError) return { tag: "err", val: error.toWit() };
  if (error instanceof CallError) return { tag: "err", val: error.toHandlerError().toWit() };
  let message;
  try {
    message =
      error instanceof Error ? `${error.name}: ${error.message}` : `thrown value ${String(error)}`;
    log.error(`operation \`${operation}\` threw ${message}` + (error?.stack ? `\n${error.stack}` : ""));
  } catch {
    message = "an unprintable exception";
  }
  return { tag: "err", val: { tag: "internal", val: `uncaught exception in operation \`${operation}\`: ${message}` } };
}

function describe(value) {
  if (value === null) return "null";
  if (typeof value === "object") return `an object (${value.constructor?.name ?? "no class"})`;
  return typeof value;
}
