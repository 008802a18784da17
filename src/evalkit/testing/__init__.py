"""Test helpers for evalkit: a local stub of the OpenAI and Anthropic HTTP APIs."""

from evalkit.testing.stub_server import RateLimit, StubServer, default_responder, fail, hang

__all__ = ["StubServer", "RateLimit", "default_responder", "fail", "hang"]
