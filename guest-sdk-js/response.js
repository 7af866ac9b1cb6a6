// Ikanos guest SDK for JavaScript: the successful answer.
//
// Owns: `Response`, what an operation returns on success (status, content type, body;
// the WIT `inbound-response`). Failures are thrown instead (errors.js).
// Plain files, no dependencies: copied as is into projects.

import { Internal } from "./errors.js";

export class Response {
  /**
   * @param {number} status HTTP status, an integer 100..599
   * @param {string} contentType the `Content-Type`
   * @param {Uint8Array | string} body bytes, or text sent as UTF-8
   */
  constructor(status, contentType, body) {
    this.status = checkStatus(status);
    this.contentType = String(contentType);
    this.body = typeof body === "string" ? new TextEncoder().encode(body) : toBytes(body);
  }

  /**
   * An `application/json` response holding `value` serialized. A value JSON cannot
   * represent (a cycle, a BigInt, `undefined`) throws `Internal` (HTTP 500).
   */
  static json(value, status = 200) {
    let text;
    try {
      text = JSON.stringify(value);
    } catch (e) {
      throw new Internal(`could not serialize the response as JSON: ${e.message}`);
    }
    if (text === undefined) {
      throw new Internal(`could not serialize the response as JSON: ${typeof value}`);
    }
    return new Response(status, "application/json", text);
  }

  /** A `text/plain; charset=utf-8` response. */
  static text(text, status = 200) {
    return new Response(status, "text/plain; charset=utf-8", String(text));
  }

  /** A response with the given content type and body (bytes or UTF-8 text). */
  static bytes(contentType, body, status = 200) {
    return new Response(status, contentType, body);
  }

  /** The same response with another HTTP status. */
  withStatus(status) {
    this.status = checkStatus(status);
    return this;
  }

  /** The WIT value. */
  toWit() {
    return { status: this.status, contentType: this.contentType, body: this.body };
  }
}

function checkStatus(status) {
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new Internal(`invalid HTTP status ${String(status)} (want an integer 100..599)`);
  }
  return status;
}

function toBytes(body) {
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  throw new Internal(`a response body must be a string or bytes, not ${typeof body}`);
}
