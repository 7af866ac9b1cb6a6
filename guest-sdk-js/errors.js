// Ikanos guest SDK for JavaScript: handler errors.
//
// Owns: the error classes an operation throws to fail (the JS form of the Rust SDK's
// `Error` enum) and their WIT `handler-error` case. The host answers each with its
// HTTP status and the message in the body:
//
//   InvalidInput  -> invalid-input  -> 400   the caller's input is missing or malformed
//   NotFound      -> not-found      -> 404   the thing asked for does not exist
//   Upstream      -> upstream       -> 502   a consumed API failed or answered junk
//   Internal      -> internal       -> 500   a bug or an unexpected condition
//   Unavailable   -> unavailable    -> 503   a consumed API's tunnel is down; retry later
//
// Anything else an operation throws becomes `internal` (see index.js), except a
// `CallError` (consumes.js): `upstream`, or `unavailable` for `tunnel-unavailable`.
// Plain files, no dependencies: copied as is into projects.

/** Base class of the five handler errors; `tag` is the WIT `handler-error` case. */
export class HandlerError extends Error {
  /** @param {string} tag @param {string} message */
  constructor(tag, message) {
    super(String(message));
    this.name = new.target.name;
    this.tag = tag;
  }

  /** The WIT value, `{ tag, val }`. */
  toWit() {
    return { tag: this.tag, val: this.message };
  }
}

/** The caller's input is missing or malformed (HTTP 400). */
export class InvalidInput extends HandlerError {
  /** @param {string} message */
  constructor(message) {
    super("invalid-input", message);
  }
}

/** The thing asked for does not exist (HTTP 404). */
export class NotFound extends HandlerError {
  /** @param {string} message */
  constructor(message) {
    super("not-found", message);
  }
}

/** A consumed API failed or answered something unusable (HTTP 502). */
export class Upstream extends HandlerError {
  /** @param {string} message */
  constructor(message) {
    super("upstream", message);
  }
}

/** A bug or an unexpected condition in the component (HTTP 500). */
export class Internal extends HandlerError {
  /** @param {string} message */
  constructor(message) {
    super("internal", message);
  }
}

/**
 * A consumed API cannot be reached now: its tunnel is down and the host fails closed
 * (HTTP 503; the caller may try again later).
 */
export class Unavailable extends HandlerError {
  /** @param {string} message */
  constructor(message) {
    super("unavailable", message);
  }
}
