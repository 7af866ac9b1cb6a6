// Unit tests of the JavaScript guest SDK under plain Node (no component build):
//   node --test guest-sdk-js/test/
// Owns: these tests and the stand-ins for the WIT imports. A module hook serves
// `ikanos:capability/consumes@0.1.0` and `ikanos:capability/log@0.1.0` (which exist only
// inside componentize-js) as stubs that forward to `globalThis.__ikanos`, and throw call
// errors the way componentize-js's bindings do (an Error whose `payload` is the variant).
// Not part of what projects copy.

import { test } from "node:test";
import assert from "node:assert/strict";
import { register } from "node:module";

const stubs = {
  "ikanos:capability/log@0.1.0":
    "export function log(level, message) { globalThis.__ikanos.logs.push([level, message]); }",
  "ikanos:capability/consumes@0.1.0":
    "export function call(request) { return globalThis.__ikanos.call(request); }",
};
const hooks = `
const stubs = ${JSON.stringify(stubs)};
export async function resolve(specifier, context, next) {
  if (specifier in stubs) {
    return { url: "data:text/javascript," + encodeURIComponent(stubs[specifier]), shortCircuit: true };
  }
  return next(specifier, context);
}`;
register("data:text/javascript," + encodeURIComponent(hooks));

const host = { logs: [], calls: [], call: () => assert.fail("unexpected call") };
globalThis.__ikanos = host;

const sdk = await import("../index.js");
const {
  capability,
  call,
  CallError,
  Internal,
  InvalidInput,
  NotFound,
  Request,
  Response,
  Unavailable,
  Upstream,
  UpstreamResponse,
  log,
} = sdk;

const utf8 = (s) => new TextEncoder().encode(s);
const text = (bytes) => new TextDecoder().decode(bytes);

function callError(tag, val) {
  const e = new Error(`${tag} (see error.payload)`);
  Object.defineProperty(e, "payload", { value: { tag, val } });
  return e;
}

function answer(fn) {
  host.calls = [];
  host.call = (request) => {
    host.calls.push(request);
    return fn(request);
  };
}

function inbound(operation, inputs = [], body = undefined) {
  return { operation, inputs, body };
}

test("dispatches to the registered operation", () => {
  const handler = capability({
    hello: (req) => Response.text(`hi ${req.require("name")}`, 201),
  });
  const out = handler.handle(inbound("hello", [["name", "ada"]]));
  assert.equal(out.tag, "ok");
  assert.equal(out.val.status, 201);
  assert.equal(out.val.contentType, "text/plain; charset=utf-8");
  assert.equal(text(out.val.body), "hi ada");
});

test("unknown operation is not-found and named", () => {
  const out = capability({}).handle(inbound("nope"));
  assert.equal(out.tag, "err");
  assert.equal(out.val.tag, "not-found");
  assert.match(out.val.val, /`nope`/);
});

test("handler errors map to their WIT cases", () => {
  const cases = [
    [InvalidInput, "invalid-input"],
    [NotFound, "not-found"],
    [Upstream, "upstream"],
    [Internal, "internal"],
    [Unavailable, "unavailable"],
  ];
  for (const [Class, tag] of cases) {
    const out = capability({
      op: () => {
        throw new Class("boom");
      },
    }).handle(inbound("op"));
    assert.deepEqual(out, { tag: "err", val: { tag, val: "boom" } });
  }
  const missing = capability({ op: (req) => Response.text(req.require("x")) }).handle(inbound("op"));
  assert.deepEqual(missing, {
    tag: "err",
    val: { tag: "invalid-input", val: "missing required input `x`" },
  });
});

test("an uncaught exception is internal with a message, and logged", () => {
  host.logs = [];
  const out = capability({
    op: () => {
      null.x;
    },
  }).handle(inbound("op"));
  assert.equal(out.val.tag, "internal");
  assert.match(out.val.val, /^uncaught exception in operation `op`: TypeError: /);
  assert.equal(host.logs.length, 1);
  assert.equal(host.logs[0][0], "error");

  const thrown = capability({
    op: () => {
      throw "plain string";
    },
  }).handle(inbound("op"));
  assert.equal(thrown.val.tag, "internal");
  assert.match(thrown.val.val, /thrown value plain string/);
});

test("a result that is not a Response is internal", () => {
  const out = capability({ op: () => ({ status: 200 }) }).handle(inbound("op"));
  assert.equal(out.val.tag, "internal");
  assert.match(out.val.val, /not the SDK's Response/);
  assert.throws(() => capability({ op: "nope" }), TypeError);
});

test("async operations resolve to the same results", async () => {
  const handler = capability({
    good: async () => Response.json({ a: 1 }),
    bad: async () => {
      throw new NotFound("gone");
    },
  });
  const good = await handler.handle(inbound("good"));
  assert.equal(good.tag, "ok");
  assert.equal(text(good.val.body), '{"a":1}');
  assert.deepEqual(await handler.handle(inbound("bad")), {
    tag: "err",
    val: { tag: "not-found", val: "gone" },
  });
});

test("call errors: tunnel-unavailable is unavailable, the rest upstream", () => {
  const handler = capability({ op: () => call("crm", "x").send() && Response.text("no") });
  answer(() => {
    throw callError("tunnel-unavailable", "no connector");
  });
  assert.deepEqual(handler.handle(inbound("op")), {
    tag: "err",
    val: { tag: "unavailable", val: "tunnel-unavailable: no connector" },
  });
  for (const kind of CallError.KINDS.filter((k) => k !== "tunnel-unavailable")) {
    answer(() => {
      throw callError(kind, "r");
    });
    assert.deepEqual(handler.handle(inbound("op")), {
      tag: "err",
      val: { tag: "upstream", val: `${kind}: r` },
    });
  }
  answer(() => {
    throw callError("timeout", "after 5s");
  });
  try {
    call("crm", "x").send();
    assert.fail("no throw");
  } catch (e) {
    assert.ok(e instanceof CallError);
    assert.equal(e.kind, "timeout");
    assert.equal(e.reason, "after 5s");
    assert.equal(e.message, "timeout: after 5s");
  }
});

test("call builder sends params and bodies", () => {
  answer(() => ({ status: 201, headers: [["Content-Type", "application/json"]], body: utf8('{"ok":true}') }));
  const r = call("crm", "create")
    .param("id", 7)
    .param("skip", undefined)
    .param("none", null)
    .param("q", "x")
    .body({ name: "Ada" })
    .send();
  assert.deepEqual(host.calls[0].params, [
    ["id", "7"],
    ["q", "x"],
  ]);
  assert.equal(host.calls[0].namespace, "crm");
  assert.equal(host.calls[0].operation, "create");
  assert.equal(text(host.calls[0].body), '{"name":"Ada"}');
  assert.ok(r instanceof UpstreamResponse);
  assert.equal(r.status, 201);
  assert.equal(r.header("content-type"), "application/json");
  assert.equal(r.header("x-missing"), undefined);
  assert.deepEqual(r.errorForStatus().json(), { ok: true });

  call("crm", "a").send();
  assert.equal(host.calls[1].body, undefined);
  call("crm", "a").body("raw text").send();
  assert.equal(text(host.calls[2].body), "raw text");
  call("crm", "a").body(new Uint8Array([1, 2])).send();
  assert.deepEqual([...host.calls[3].body], [1, 2]);
  call("crm", "a").jsonBody("s").send();
  assert.equal(text(host.calls[4].body), '"s"');

  const cyclic = {};
  cyclic.self = cyclic;
  assert.throws(
    () => call("crm", "a").body(cyclic).send(),
    (e) => e instanceof CallError && e.kind === "invalid-input" && /serialize/.test(e.reason),
  );
  assert.equal(host.calls.length, 5, "a body that is not JSON never calls out");
});

test("upstream response helpers", () => {
  const ok = new UpstreamResponse(200, [], utf8('{"a":1}'));
  assert.ok(ok.isSuccess());
  assert.equal(ok.text(), '{"a":1}');
  assert.deepEqual(ok.json(), { a: 1 });
  assert.throws(() => new UpstreamResponse(503).errorForStatus(), {
    name: "Upstream",
    message: "the upstream answered HTTP 503",
  });
  assert.throws(() => new UpstreamResponse(302).errorForStatus(), Upstream);
  assert.throws(() => new UpstreamResponse(200, [], utf8("<html>")).json(), Upstream);
  assert.throws(() => new UpstreamResponse(200, [], new Uint8Array([0xff])).text(), Upstream);
});

test("request lookups", () => {
  const req = new Request("op", [
    ["id", "42"],
    ["id", "43"],
    ["name", "x"],
  ]);
  assert.equal(req.operation, "op");
  assert.equal(req.input("id"), "42");
  assert.equal(req.input("ID"), undefined);
  assert.equal(req.require("name"), "x");
  assert.throws(() => req.require("missing"), {
    name: "InvalidInput",
    message: "missing required input `missing`",
  });
  assert.equal(new Request("op", { a: "1" }).input("a"), "1");
});

test("integer inputs", () => {
  const r = (v) => new Request("op", [["n", v]]);
  assert.equal(r("42").inputInt("n"), 42);
  assert.equal(r("+5").inputInt("n"), 5);
  assert.equal(r("-3").inputInt("n"), -3);
  assert.equal(new Request("op").inputInt("n"), undefined);
  for (const bad of ["ten", "1.5", "", " 5", "0x10", "1e3"]) {
    assert.throws(() => r(bad).inputInt("n"), InvalidInput, bad);
  }
  assert.throws(() => r("-1").inputInt("n", { min: 0 }), /less than 0/);
  assert.throws(() => r("11").inputInt("n", { max: 10 }), /greater than 10/);
  assert.throws(() => r("99999999999999999999").inputInt("n"), InvalidInput);
  assert.equal(r("7").requireInt("n"), 7);
  assert.throws(() => new Request("op").requireInt("n"), /missing required input `n`/);
});

test("request bodies", () => {
  assert.deepEqual(new Request("op", [], utf8('{"a":7}')).json(), { a: 7 });
  assert.equal(new Request("op", [], "hé").text(), "hé");
  assert.throws(() => new Request("op").json(), InvalidInput);
  assert.throws(() => new Request("op", [], "{").json(), /not valid JSON/);
});

test("responses", () => {
  const j = Response.json({ a: [1, 2] }).toWit();
  assert.equal(j.status, 200);
  assert.equal(j.contentType, "application/json");
  assert.equal(text(j.body), '{"a":[1,2]}');
  const t = Response.text("hé").withStatus(201).toWit();
  assert.deepEqual([t.status, t.contentType, text(t.body)], [201, "text/plain; charset=utf-8", "hé"]);
  const b = Response.bytes("image/png", new Uint8Array([1, 2, 3])).toWit();
  assert.deepEqual([b.contentType, [...b.body]], ["image/png", [1, 2, 3]]);
  assert.throws(() => Response.json(undefined), Internal);
  assert.throws(() => Response.json({ n: 1n }), Internal);
  assert.throws(() => Response.text("x", 42), Internal);
  assert.throws(() => Response.bytes("a/b", 5), Internal);
});

test("log joins its parts", () => {
  host.logs = [];
  log.info("n =", 3, { a: 1 });
  log.warn(new TypeError("bad"));
  log.trace("t");
  log.debug("d");
  log.error("e");
  assert.deepEqual(host.logs, [
    ["info", 'n = 3 {"a":1}'],
    ["warn", "TypeError: bad"],
    ["trace", "t"],
    ["debug", "d"],
    ["error", "e"],
  ]);
});
