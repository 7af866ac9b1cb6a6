// Ikanos guest SDK for JavaScript: calls to consumed operations.
//
// Owns: the `call(namespace, operation)` builder, `UpstreamResponse` and `CallError`,
// over the WIT `consumes.call` import. The host builds the HTTP request from the
// capability file's declaration (path, query, headers, authentication, tunnel), so the
// component only names the operation and passes parameter values:
//
//   const customer = call("crm", "get-customer").param("id", id).send()
//     .errorForStatus()   // non-2xx  -> throws Upstream (502)
//     .json();            // bad JSON -> throws Upstream (502)
//
// `send()` throws a `CallError` when the call produced no upstream response; left
// uncaught in an operation it becomes `upstream` (502), or `unavailable` (503) for
// `tunnel-unavailable` (see `CallError.toHandlerError`).
// Plain files, no dependencies: copied as is into projects.

import { call as witCall } from "ikanos:capability/consumes@0.1.0";
import { Unavailable, Upstream } from "./errors.js";

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** The WIT `call-error` cases. */
const CALL_ERROR_KINDS = Object.freeze([
  "unknown-operation", // no such namespace, or no such operation in it
  "invalid-input", // a parameter is undeclared, missing, or not valid for its place
  "tunnel-unavailable", // the consumes entry's tunnel is not ready (fail closed)
  "timeout", // the upstream did not answer within the configured time
  "transport", // connecting, TLS or the HTTP exchange failed
  "denied", // the host's policy refused the call (e.g. the per-request call budget)
]);

/**
 * Why a consumed call produced no upstream response (the WIT `call-error`). `kind` is
 * the case name, `reason` the host's human-readable reason (never a secret); the
 * message is `<kind>: <reason>`.
 */
export class CallError extends Error {
  static KINDS = CALL_ERROR_KINDS;

  /** @param {string} kind one of `CallError.KINDS` @param {string} reason */
  constructor(kind, reason) {
    super(`${kind}: ${reason}`);
    this.name = "CallError";
    this.kind = kind;
    this.reason = String(reason);
  }

  /** The handler error it stands for: `Unavailable` for a tunnel that is down, else `Upstream`. */
  toHandlerError() {
    return this.kind === "tunnel-unavailable"
      ? new Unavailable(this.message)
      : new Upstream(this.message);
  }
}

/** What the upstream answered. Every status, 2xx or not, arrives here. */
export class UpstreamResponse {
  /**
   * @param {number} status
   * @param {Array<[string, string]>} headers `[name, value]` in the host's order
   * @param {Uint8Array} body
   */
  constructor(status, headers = [], body = new Uint8Array()) {
    this.status = status;
    this.headers = headers;
    this.body = typeof body === "string" ? new TextEncoder().encode(body) : body;
  }

  /** The first header called `name` (case-insensitive), or `undefined`. */
  header(name) {
    const wanted = String(name).toLowerCase();
    for (const [n, v] of this.headers) {
      if (n.toLowerCase() === wanted) return v;
    }
    return undefined;
  }

  /** Whether the status is 2xx. */
  isSuccess() {
    return this.status >= 200 && this.status < 300;
  }

  /** `this` if the status is 2xx, else throws `Upstream` naming the status. */
  errorForStatus() {
    if (!this.isSuccess()) throw new Upstream(`the upstream answered HTTP ${this.status}`);
    return this;
  }

  /** The body as UTF-8 text; throws `Upstream` if it is not UTF-8. */
  text() {
    try {
      return UTF8.decode(this.body);
    } catch (e) {
      throw new Upstream(`the upstream body is not UTF-8: ${e.message}`);
    }
  }

  /** The body parsed as JSON; throws `Upstream` if it is not valid JSON. */
  json() {
    let text;
    try {
      text = UTF8.decode(this.body);
    } catch {
      throw new Upstream("the upstream body is not the expected JSON: not UTF-8");
    }
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new Upstream(`the upstream body is not the expected JSON: ${e.message}`);
    }
  }
}

/** A consumed call being built; see `call`. */
export class Call {
  constructor(namespace, operation) {
    this.namespace = String(namespace);
    this.operation = String(operation);
    /** @type {Array<[string, string]>} */
    this.params = [];
    /** @type {Uint8Array | undefined} */
    this.bodyBytes = undefined;
    this.bodyError = undefined;
  }

  /**
   * Adds parameter `name` with `String(value)`; `undefined` or `null` adds nothing (so
   * an optional input passes straight through). The capability file decides where it
   * goes; undeclared names make `send()` throw `CallError` `invalid-input`.
   */
  param(name, value) {
    if (value !== undefined && value !== null) this.params.push([String(name), String(value)]);
    return this;
  }

  /**
   * Sets the body, sent with the operation's declared content type: a `Uint8Array` (or
   * other byte view / `ArrayBuffer`) as is, a string as UTF-8, anything else as JSON.
   */
  body(value) {
    if (typeof value === "string") return this.setBody(new TextEncoder().encode(value));
    if (value instanceof Uint8Array) return this.setBody(value);
    if (value instanceof ArrayBuffer) return this.setBody(new Uint8Array(value));
    if (ArrayBuffer.isView(value)) {
      return this.setBody(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    }
    return this.jsonBody(value);
  }

  /** Sets the body to `value` as JSON (a string too). A value JSON cannot represent
   * makes `send()` throw `CallError` `invalid-input` without calling out. */
  jsonBody(value) {
    let text;
    try {
      text = JSON.stringify(value);
      if (text === undefined) throw new TypeError(`${typeof value} is not JSON`);
    } catch (e) {
      this.bodyBytes = undefined;
      this.bodyError = `could not serialize the body as JSON: ${e.message}`;
      return this;
    }
    return this.setBody(new TextEncoder().encode(text));
  }

  setBody(bytes) {
    this.bodyBytes = bytes;
    this.bodyError = undefined;
    return this;
  }

  /**
   * Calls the operation and waits for the upstream's answer: an `UpstreamResponse`
   * whatever its status (use `.errorForStatus()`), or throws `CallError`.
   */
  send() {
    if (this.bodyError !== undefined) throw new CallError("invalid-input", this.bodyError);
    let r;
    try {
      r = witCall({
        namespace: this.namespace,
        operation: this.operation,
        params: this.params,
        body: this.bodyBytes,
      });
    } catch (e) {
      // The bindings throw the `call-error` variant `{ tag, val }` as `e.payload`.
      const p = e && e.payload;
      if (p && typeof p.tag === "string") throw new CallError(p.tag, p.val);
      throw e;
    }
    return new UpstreamResponse(r.status, r.headers, r.body);
  }
}

/**
 * Starts a call to consumed operation `operation` of consumes namespace `namespace`
 * (e.g. `call("crm", "list-customers")`). Nothing happens until `.send()`.
 */
export function call(namespace, operation) {
  return new Call(namespace, operation);
}
