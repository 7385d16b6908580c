"""Unit tests of the plugin's logic, run natively: python3 -m unittest"""

import unittest

import build

build.use_sdk()

import __MODULE__ as plugin  # noqa: E402


class LookupTest(unittest.TestCase):
    def test_walks_objects_and_arrays(self):
        body = {"spec": {"size": "large"}, "items": [{"id": 7}]}
        self.assertEqual(plugin.lookup(body, "spec.size"), "large")
        self.assertEqual(plugin.lookup(body, "items.0.id"), "7")
        self.assertIsNone(plugin.lookup(body, "spec.colour"))


if __name__ == "__main__":
    unittest.main()
