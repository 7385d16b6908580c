"""Unit tests of the plugin's logic, run natively: python3 -m unittest"""

import unittest

import build

build.use_sdk()

import apirun_plugin as apirun  # noqa: E402
import __MODULE__ as plugin  # noqa: E402


class GreetingTest(unittest.TestCase):
    def test_greets_by_name(self):
        self.assertEqual(plugin.greeting({"name": "Ada"}), "hello Ada")

    def test_refuses_an_empty_name(self):
        with self.assertRaises(apirun.InvalidConfig):
            plugin.greeting({"name": " "})


if __name__ == "__main__":
    unittest.main()
