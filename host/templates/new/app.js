// __NAME__: the component of an Ikanos capability (made by `ikanos new`), built into
// __NAME__.wasm by ./build (componentize-js).
// - `hello` (`GET /hello/{{name}}`) answers a greeting by itself;
// - `get-customer` (`GET /customers/{{id}}`) calls the consumed operation
//   `api.get-customer`, which the capability file declares; the host adds the token
//   and routes the call.

import { call, capability, NotFound, Response } from "./ikanos-guest/index.js";

function hello(req) {
  return Response.json({ message: `Hello, ${req.require("name")}!` });
}

function getCustomer(req) {
  const id = req.require("id");
  const upstream = call("api", "get-customer").param("id", id).send();
  if (upstream.status === 404) throw new NotFound(`the API has no customer ${id}`);
  return Response.json(upstream.errorForStatus().json());
}

export const handler = capability({
  "hello": hello,
  "get-customer": getCustomer,
});
