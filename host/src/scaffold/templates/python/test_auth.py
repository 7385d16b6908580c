"""Unit tests of the plugin's logic, run natively: python3 -m unittest"""

import unittest

import build

build.use_sdk()

import apirun_plugin as apirun  # noqa: E402
import __MODULE__ as plugin  # noqa: E402


class AcquireTest(unittest.TestCase):
    def test_bearer_header(self):
        credential = plugin.acquire(apirun.AcquireInput(provider_config={"token": "t0k"}))
        self.assertEqual(credential.header_name, "Authorization")
        self.assertEqual(credential.header_value, "Bearer t0k")
        self.assertEqual(credential.token, "t0k")

    def test_refuses_a_missing_token(self):
        with self.assertRaises(apirun.InvalidConfig):
            plugin.acquire(apirun.AcquireInput(provider_config={}))


if __name__ == "__main__":
    unittest.main()
