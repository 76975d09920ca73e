"""Unit tests: request handling without a socket."""

import json
import unittest

from webapp import __version__
from webapp.app import Config, greeting, respond


class ConfigTest(unittest.TestCase):
    def test_defaults(self) -> None:
        self.assertEqual(Config.from_env({}), Config(port=8080, release="dev"))

    def test_reads_port_and_release(self) -> None:
        config = Config.from_env({"PORT": "18081", "RELEASE": "abc123"})
        self.assertEqual((config.port, config.release), (18081, "abc123"))

    def test_rejects_a_bad_port(self) -> None:
        for bad in ("http", "-1", "70000"):
            with self.subTest(port=bad), self.assertRaisesRegex(ValueError, "PORT"):
                Config.from_env({"PORT": bad})


class GreetingTest(unittest.TestCase):
    def test_greets_by_name(self) -> None:
        self.assertEqual(greeting("Ada"), "Hello, Ada!")

    def test_blank_name_greets_the_world(self) -> None:
        self.assertEqual(greeting("  \t"), "Hello, world!")

    def test_squeezes_whitespace_and_truncates(self) -> None:
        self.assertEqual(greeting(" a   b "), "Hello, a b!")
        self.assertEqual(len(greeting("x" * 500)), len("Hello, !") + 64)


class RespondTest(unittest.TestCase):
    config = Config(port=0, release="r1")

    def test_health_reports_ok_version_and_release(self) -> None:
        response = respond("GET", "/health", self.config)
        self.assertEqual(response.status, 200)
        self.assertEqual(
            json.loads(response.body),
            {"status": "ok", "version": __version__, "release": "r1"},
        )

    def test_greet_reads_the_query(self) -> None:
        response = respond("GET", "/api/greet?name=Grace%20Hopper", self.config)
        self.assertEqual(json.loads(response.body), {"message": "Hello, Grace Hopper!"})

    def test_unknown_path_is_404(self) -> None:
        self.assertEqual(respond("GET", "/nope", self.config).status, 404)

    def test_writes_are_refused(self) -> None:
        self.assertEqual(respond("POST", "/health", self.config).status, 405)


if __name__ == "__main__":
    unittest.main()
