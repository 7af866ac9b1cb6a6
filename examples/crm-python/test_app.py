# Owns: native unit tests of app.py (plain CPython; ./build leaves test_*.py out of the
# component). Consumed calls are faked by replacing ikanos_guest._wit.call.
#   python3 -m unittest discover -s examples/crm-python

import os
import sys
import unittest
from unittest import mock

here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [here, os.path.join(here, "..", "..", "guest-sdk-python")]

import app  # noqa: E402
from ikanos_guest import InvalidInput, NotFound, Request, Upstream, UpstreamResponse, _wit  # noqa: E402


class AppTest(unittest.TestCase):
    def test_maps_upstream_statuses(self):
        self.assertEqual(app.checked(UpstreamResponse(200, [], b"{}"), "x").status, 200)
        with self.assertRaises(NotFound):
            app.checked(UpstreamResponse(404), "x")
        for status in (401, 500):
            with self.assertRaises(Upstream):
                app.checked(UpstreamResponse(status), "x")

    def test_rejects_a_bad_limit_before_calling_out(self):
        with mock.patch.object(_wit, "call") as call:
            for limit in ("ten", "-1", "4294967296"):
                with self.assertRaises(InvalidInput):
                    app.list_customers(Request("list-customers", {"limit": limit}))
            call.assert_not_called()

    def test_passes_limit_only_when_given(self):
        with mock.patch.object(_wit, "call", return_value=(200, [], b"[]")) as call:
            self.assertEqual(app.list_customers(Request("list-customers")).body, b"[]")
            app.list_customers(Request("list-customers", {"limit": "2"}))
        self.assertEqual(call.call_args_list[0].args, ("crm", "list-customers", [], None))
        self.assertEqual(call.call_args_list[1].args, ("crm", "list-customers", [("limit", "2")], None))

    def test_get_customer_returns_the_upstream_json(self):
        with mock.patch.object(_wit, "call", return_value=(200, [], b'{"id": "2"}')) as call:
            r = app.get_customer(Request("get-customer", {"id": "2"}))
        self.assertEqual((r.status, r.content_type, r.body), (200, "application/json", b'{"id":"2"}'))
        self.assertEqual(call.call_args.args, ("crm", "get-customer", [("id", "2")], None))
        with mock.patch.object(_wit, "call", return_value=(200, [], b"not json")):
            with self.assertRaises(Upstream):
                app.get_customer(Request("get-customer", {"id": "2"}))


if __name__ == "__main__":
    unittest.main()
