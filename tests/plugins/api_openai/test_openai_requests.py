"""Request validation of the OpenAI routes, in-process (no cluster needed: a bad request never
reaches one). OpenAI answers a wrong type with a 400, it does not coerce it; so do we."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from odyssai.plugins import get_plugin_manager
from odyssai.server import create_app
from odyssai.settings import load_settings

CHAT = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    settings = load_settings(home=tmp_path_factory.mktemp("home"))
    with TestClient(create_app(settings, get_plugin_manager()), raise_server_exceptions=False) as c:
        yield c


def chat(**fields):
    return {"model": "tiny", "messages": CHAT, **fields}


@pytest.mark.parametrize("body,param", [
    (chat(temperature="0.5"), "temperature"),
    (chat(seed="12"), "seed"),
    (chat(max_tokens="3"), "max_tokens"),
    (chat(max_tokens=True), "max_tokens"),
    (chat(max_tokens=2.5), "max_tokens"),
    (chat(logprobs="true"), "logprobs"),
    (chat(stream="yes"), "stream"),
    (chat(stream_options={"include_usage": 1}), "stream_options.include_usage"),
    (chat(stop=["ok", 3]), "stop"),
    (chat(stop=""), "stop"),
    (chat(top_logprobs=3), "top_logprobs"),
    (chat(top_logprobs=21, logprobs=True), "top_logprobs"),
    (chat(temperature=-1), "temperature"),
    (chat(n=5), "n"),
    ({"model": "tiny", "messages": [{"role": "user", "content": 7}]}, "messages.0.content"),
    ({"model": "tiny", "messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
    ({"model": "tiny", "messages": []}, "messages"),
    ({"messages": CHAT}, "model"),
    (chat(model="../etc"), "model"),
])
def test_a_wrong_type_or_value_is_a_400_naming_exactly_the_field(client, body, param):
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["type"] == "invalid_request_error"
    assert err["param"] == param, err


@pytest.mark.parametrize("body,param", [
    ({"model": "tiny", "prompt": ["a", "b"]}, "prompt"),
    ({"model": "tiny", "prompt": "x", "logprobs": True}, "logprobs"),
    ({"model": "tiny", "prompt": "x", "echo": True}, "echo"),
    ({"model": "tiny", "prompt": 42}, "prompt"),
])
def test_a_bad_text_completion_is_a_400_naming_the_field(client, body, param):
    r = client.post("/v1/completions", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


def test_an_integer_temperature_and_a_valid_request_pass_validation(client):
    # valid requests get past validation: with nothing loaded the answer is the 404 naming the model
    for body in (chat(temperature=1, top_p=1, seed=3, stop="x", max_completion_tokens=4),
                 chat(messages=[{"role": "user", "content": [{"type": "text", "text": "Hi"}]}])):
        r = client.post("/v1/chat/completions", json=body)
        assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found", r.text
