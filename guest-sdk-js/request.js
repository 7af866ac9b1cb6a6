// Ikanos guest SDK for JavaScript: the inbound request.
//
// Owns: `Request`, one call to an exposed operation as the host hands it over, and its
// input lookups. `inputs` are the declared input parameters the caller supplied (path,
// query, header, cookie) by their declared name; the host has already checked them
// against the capability file. Lookups that fail throw `InvalidInput` (HTTP 400).
// Plain files, no dependencies: copied as is into projects.

import { InvalidInput } from "./errors.js";

const UTF8 = new TextDecoder("utf-8", { fatal: true });

export class Request {
  /**
   * The host builds requests; build one yourself only to unit-test an operation.
   * @param {string} operation the exposed operation key, e.g. `get-customer`
   * @param {Array<[string, string]> | Record<string, string>} [inputs] by declared name
   * @param {Uint8Array | string} [body] the request body, if any
   */
  constructor(operation, inputs = [], body = undefined) {
    /** The exposed operation key. @type {string} */
    this.operation = String(operation);
    /** Supplied inputs as `[name, value]` pairs, in the host's order. @type {Array<[string, string]>} */
    this.inputs = (Array.isArray(inputs) ? inputs : Object.entries(inputs)).map(
      ([name, value]) => [String(name), String(value)],
    );
    /** The request body, if any. @type {Uint8Array | undefined} */
    this.body = typeof body === "string" ? new TextEncoder().encode(body) : body;
  }

  /** The value of input `name` (the first one if repeated), or `undefined`. */
  input(name) {
    for (const [n, v] of this.inputs) {
      if (n === name) return v;
    }
    return undefined;
  }

  /** The value of input `name`; throws `InvalidInput` naming it when it is missing. */
  require(name) {
    const value = this.input(name);
    if (value === undefined) throw new InvalidInput(`missing required input \`${name}\``);
    return value;
  }

  /**
   * Input `name` as an integer: `undefined` when absent; `InvalidInput` naming the
   * input when it is not a decimal integer (optional sign, digits only) or is outside
   * `[min, max]` (default: the safe integer range).
   * @param {string} name
   * @param {{ min?: number, max?: number }} [range]
   * @returns {number | undefined}
   */
  inputInt(name, { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = {}) {
    const raw = this.input(name);
    if (raw === undefined) return undefined;
    const invalid = (why) =>
      new InvalidInput(`input \`${name}\` has an invalid value \`${raw}\`: ${why}`);
    if (!/^[+-]?[0-9]+$/.test(raw)) throw invalid("not an integer");
    const n = Number(raw) + 0; // + 0: "-0" is 0
    if (n < min) throw invalid(`less than ${min}`);
    if (n > max) throw invalid(`greater than ${max}`);
    return n;
  }

  /** Like `inputInt`, but a missing input is an `InvalidInput` too. */
  requireInt(name, range = {}) {
    const n = this.inputInt(name, range);
    if (n === undefined) throw new InvalidInput(`missing required input \`${name}\``);
    return n;
  }

  /** The body as UTF-8 text; `InvalidInput` when it is missing or not UTF-8. */
  text() {
    if (this.body === undefined) throw new InvalidInput("a request body is required");
    try {
      return UTF8.decode(this.body);
    } catch {
      throw new InvalidInput("the request body is not UTF-8");
    }
  }

  /** The body parsed as JSON; `InvalidInput` when it is missing or malformed. */
  json() {
    if (this.body === undefined) throw new InvalidInput("a JSON request body is required");
    let text;
    try {
      text = UTF8.decode(this.body);
    } catch {
      throw new InvalidInput("the request body is not valid JSON: not UTF-8");
    }
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new InvalidInput(`the request body is not valid JSON: ${e.message}`);
    }
  }
}
