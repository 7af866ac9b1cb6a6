# Owns: native unit tests of the Python guest SDK (plain CPython, no component, no
# componentize-py): requests, responses, errors, the consumes builder and the dispatch.
#   python3 -m unittest discover -s guest-sdk-python/tests
# Consumed calls are faked by replacing ikanos_guest._wit.call.

import os
import sys
import unittest
from unittest import mock

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import ikanos_guest  # noqa: E402
from ikanos_guest import (  # noqa: E402
    CallError,
    Error,
    Internal,
    InvalidInput,
    NotFound,
    Request,
    Response,
    Unavailable,
    Upstream,
    UpstreamResponse,
    _wit,
    capability,
    consumes,
    log,
)


class Inbound:
    """What componentize-py hands `handle`: a WIT inbound-request."""

    def __init__(self, operation, inputs=(), body=None):
        self.operation = operation
        self.inputs = list(inputs)
        self.body = body


def handle(handler, operation, inputs=(), body=None):
    """Runs the handler; (status, content_type, body) or ("error", kind, message)."""
    try:
        r = handler().handle(Inbound(operation, inputs, body))
    except _wit.WitErr as e:
        return ("error", e.value.kind, e.value.value)
    return (r.status, r.content_type, r.body)


class RequestTest(unittest.TestCase):
    def test_lookups(self):
        r = Request("op", [("id", "42"), ("id", "43"), ("name", "x")])
        self.assertEqual(r.operation, "op")
        self.assertEqual(r.inputs, {"id": "42", "name": "x"})
        self.assertEqual(r.input("id"), "42")
        self.assertIsNone(r.input("ID"))
        self.assertEqual(r.input("absent", "d"), "d")
        self.assertEqual(r.require("name"), "x")
        with self.assertRaises(InvalidInput) as e:
            r.require("missing")
        self.assertEqual(e.exception.message, "missing required input `missing`")
        self.assertEqual(Request("op", {"a": "1"}).inputs, {"a": "1"})

    def test_input_int(self):
        r = Request("op", {"n": "42", "neg": "-3", "plus": "+7", "bad": "ten",
                           "us": "1_000", "sp": " 1", "uni": "\u0663", "big": "4294967296"})
        self.assertEqual(r.input_int("n"), 42)
        self.assertEqual(r.input_int("neg"), -3)
        self.assertEqual(r.input_int("plus"), 7)
        self.assertIsNone(r.input_int("absent"))
        for name in ("bad", "us", "sp", "uni"):
            with self.assertRaises(InvalidInput) as e:
                r.input_int(name)
            self.assertIn(f"`{name}`", e.exception.message)
        with self.assertRaises(InvalidInput):
            r.input_int("neg", min=0)
        with self.assertRaises(InvalidInput):
            r.input_int("big", max=2**32 - 1)
        self.assertEqual(r.require_int("n", min=0, max=100), 42)
        with self.assertRaises(InvalidInput):
            r.require_int("absent")

    def test_body(self):
        r = Request("op", body=b'{"a": [1]}')
        self.assertEqual(r.body, b'{"a": [1]}')
        self.assertEqual(r.json(), {"a": [1]})
        self.assertEqual(r.text(), '{"a": [1]}')
        for bad in (Request("op"), Request("op", body=b"{"), Request("op", body=b"\xff")):
            with self.assertRaises(InvalidInput):
                bad.json()
        with self.assertRaises(InvalidInput):
            Request("op", body=b"\xff").text()


class ResponseTest(unittest.TestCase):
    def test_builders(self):
        r = Response.json({"a": [1, 2], "é": None})
        self.assertEqual((r.status, r.content_type), (200, "application/json"))
        self.assertEqual(r.body, '{"a":[1,2],"é":null}'.encode())
        r = Response.text("hé", status=201)
        self.assertEqual((r.status, r.content_type, r.body), (201, "text/plain; charset=utf-8", "hé".encode()))
        r = Response.bytes("image/png", b"\x01\x02")
        self.assertEqual((r.status, r.content_type, r.body), (200, "image/png", b"\x01\x02"))

    def test_unserializable_json_is_a_500(self):
        for value in ({1, 2}, float("nan"), object()):
            r = Response.json(value)
            self.assertEqual((r.status, r.content_type), (500, "text/plain; charset=utf-8"))

    def test_invalid_status(self):
        for status in (99, 600, "200", True):
            with self.assertRaises(ValueError):
                Response.text("x", status=status)


class ErrorsTest(unittest.TestCase):
    def test_kinds(self):
        cases = [(InvalidInput, "invalid-input", 400), (NotFound, "not-found", 404),
                 (Upstream, "upstream", 502), (Internal, "internal", 500),
                 (Unavailable, "unavailable", 503)]
        for cls, case, status in cases:
            e = cls("m")
            self.assertIsInstance(e, Error)
            self.assertEqual((e.wit_case, e.http_status, e.message, str(e)), (case, status, "m", "m"))

    def test_call_errors(self):
        for kind, cls in consumes.CALL_ERRORS.items():
            e = cls("why")
            self.assertIsInstance(e, CallError)
            self.assertEqual((e.kind, e.reason, e.message), (kind, "why", f"{kind}: why"))
            if kind == "tunnel-unavailable":
                self.assertIsInstance(e, Unavailable)
                self.assertEqual(e.wit_case, "unavailable")
            else:
                self.assertIsInstance(e, Upstream)
                self.assertEqual(e.wit_case, "upstream")


class ConsumesTest(unittest.TestCase):
    def test_builder(self):
        c = consumes.call("crm", "get").param("id", 7).param("flag", True).body("raw")
        self.assertEqual(c.params, [("id", "7"), ("flag", "true")])
        self.assertEqual(c.payload, b"raw")
        self.assertEqual(c.body(b"\x00").payload, b"\x00")
        self.assertEqual(c.body({"k": True}).payload, b'{"k":true}')
        self.assertEqual(c.json_body("s").payload, b'"s"')

    def test_native_send_is_transport(self):
        with self.assertRaises(consumes.Transport) as e:
            consumes.call("crm", "get").send()
        self.assertIn("`crm.get`", e.exception.reason)

    def test_unserializable_body_fails_locally(self):
        with mock.patch.object(_wit, "call") as call:
            with self.assertRaises(consumes.InvalidCallInput):
                consumes.call("crm", "x").body({1, 2}).send()
            call.assert_not_called()

    def test_send_and_call_errors(self):
        with mock.patch.object(_wit, "call", return_value=(201, [("A", "b")], b"{}")) as call:
            r = consumes.call("crm", "x").param("p", 1).body(b"B").send()
        call.assert_called_once_with("crm", "x", [("p", "1")], b"B")
        self.assertEqual((r.status, r.headers, r.body), (201, [("A", "b")], b"{}"))
        for kind, cls in consumes.CALL_ERRORS.items():
            with mock.patch.object(_wit, "call", side_effect=_wit.CallFailed(kind, "r")):
                with self.assertRaises(cls):
                    consumes.call("crm", "x").send()

    def test_upstream_response(self):
        r = UpstreamResponse(200, [("Content-Type", "application/json")], b'{"a":1}')
        self.assertEqual(r.header("content-type"), "application/json")
        self.assertIsNone(r.header("x-missing"))
        self.assertTrue(r.is_success())
        self.assertIs(r.error_for_status(), r)
        self.assertEqual(r.json(), {"a": 1})
        self.assertEqual(r.text(), '{"a":1}')
        with self.assertRaises(Upstream) as e:
            UpstreamResponse(503).error_for_status()
        self.assertEqual(e.exception.message, "the upstream answered HTTP 503")
        self.assertFalse(UpstreamResponse(302).is_success())
        for bad in (b"{", b"\xff"):
            with self.assertRaises(Upstream):
                UpstreamResponse(200, [], bad).json()


class DispatchTest(unittest.TestCase):
    def setUp(self):
        def hello(req):
            return Response.text(f"hi {req.require('name')}", status=201)

        def fail(req):
            raise NotFound("nothing")

        def boom(req):
            return {}["x"]

        def tunnel(req):
            consumes.call("crm", "x").send()

        self.handler = capability({
            "hello": hello,
            "fail": fail,
            "boom": boom,
            "none": lambda req: None,
            "exit": lambda req: sys.exit(2),
            "tunnel": tunnel,
        })

    def test_dispatches(self):
        self.assertEqual(handle(self.handler, "hello", [("name", "ada")]),
                         (201, "text/plain; charset=utf-8", b"hi ada"))

    def test_maps_errors(self):
        self.assertEqual(handle(self.handler, "hello"),
                         ("error", "invalid-input", "missing required input `name`"))
        self.assertEqual(handle(self.handler, "fail"), ("error", "not-found", "nothing"))

    def test_call_errors_become_upstream_or_unavailable(self):
        with mock.patch.object(_wit, "call", side_effect=_wit.CallFailed("tunnel-unavailable", "down")):
            self.assertEqual(handle(self.handler, "tunnel"),
                             ("error", "unavailable", "tunnel-unavailable: down"))
        with mock.patch.object(_wit, "call", side_effect=_wit.CallFailed("timeout", "slow")):
            self.assertEqual(handle(self.handler, "tunnel"), ("error", "upstream", "timeout: slow"))

    def test_any_other_exception_is_internal(self):
        with mock.patch.object(log, "error") as logged:
            self.assertEqual(handle(self.handler, "boom"),
                             ("error", "internal", "operation `boom` failed: KeyError: 'x'"))
            self.assertIn("Traceback", logged.call_args[0][0])
            self.assertEqual(handle(self.handler, "none"),
                             ("error", "internal", "operation `none` failed: TypeError: returned NoneType, not a Response"))
            self.assertEqual(handle(self.handler, "exit"),
                             ("error", "internal", "operation `exit` failed: SystemExit: 2"))

    def test_unknown_operation_is_not_found(self):
        self.assertEqual(handle(self.handler, "nope"),
                         ("error", "not-found", "the component has no handler for operation `nope`"))

    def test_rejects_a_bad_mapping(self):
        with self.assertRaises(TypeError):
            capability({"x": "not callable"})

    def test_public_api(self):
        for name in ikanos_guest.__all__:
            self.assertTrue(hasattr(ikanos_guest, name), name)


if __name__ == "__main__":
    unittest.main()
