# __NAME__: the component of an Ikanos capability (made by `ikanos new`), built into
# __NAME__.wasm by ./build (componentize-py).
# - `hello` (`GET /hello/{{name}}`) answers a greeting by itself;
# - `get-customer` (`GET /customers/{{id}}`) calls the consumed operation
#   `api.get-customer`, which the capability file declares; the host adds the token
#   and routes the call.

from ikanos_guest import NotFound, Response, capability, consumes


def hello(req):
    return Response.json({"message": f"Hello, {req.require('name')}!"})


def get_customer(req):
    id = req.require("id")
    upstream = consumes.call("api", "get-customer").param("id", id).send()
    if upstream.status == 404:
        raise NotFound(f"the API has no customer {id}")
    return Response.json(upstream.error_for_status().json())


# componentize-py exports the class this module calls `Handler`.
Handler = capability({
    "hello": hello,
    "get-customer": get_customer,
})
