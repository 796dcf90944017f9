import pytest

from unigate.domain.errors import BadRequest
from unigate.domain.model_strings import MetaProvider, Target, Threshold, parse


@pytest.mark.parametrize(
    ("text", "chain"),
    [
        ("gpt-4o@openai", [Target("gpt-4o", "openai")]),
        ("claude-haiku-4.5@anthropic", [Target("claude-haiku-4.5", "anthropic")]),
        ("llama-3.1-70b-chat@together-ai->groq",
         [Target("llama-3.1-70b-chat", "together-ai"), Target("llama-3.1-70b-chat", "groq")]),
        ("m1->m2@p", [Target("m1", "p"), Target("m2", "p")]),
        ("a@p1->b@p2", [Target("a", "p1"), Target("b", "p2")]),
        ("Mistral-large", [Target("Mistral-large", None)]),
        ("x@custom", [Target("x", "custom")]),
        ("meta.llama3-1-70b-instruct-v1:0@aws-bedrock", [Target("meta.llama3-1-70b-instruct-v1:0", "aws-bedrock")]),
    ],
)
def test_grammar(text: str, chain: list[Target]) -> None:
    assert list(parse(text)) == chain


def test_meta_providers_and_thresholds() -> None:
    (target,) = parse("llama-3.1-70b-chat@itl|ic<=0.8|t<500")
    assert target.provider == MetaProvider("itl", (Threshold("input_cost", "<=", 0.8), Threshold("ttft", "<", 500)))
    for name, metric in [("lowest-input-cost", "input_cost"), ("oc", "output_cost"), ("cost", "cost"),
                         ("lowest-ttft", "ttft"), ("i", "itl"), ("highest-tks-per-sec", "tks_per_sec")]:
        assert parse(f"m@{name}")[0].provider == MetaProvider(metric)
    assert Threshold("ttft", "<", 500).admits(499)
    assert not Threshold("ttft", "<", 500).admits(500)


@pytest.mark.parametrize(
    "text",
    [None, "", "   ", 42, "@@", "a@", "@p", "a->", "->a@p", "a@@p", "a@b@c", "../../etc/passwd@openai",
     "http://evil.example/v1@openai", "gpt-4o@http://evil", "a@OpenAI", "a b@openai", "a@p|t<5",
     "a@itl|zz<3", "a@itl|t<<3", "a" * 600, "->".join(["a@p"] * 50), "a@p\r\nx", "a\u0000@p"],
)
def test_malformed_strings_are_400(text: object) -> None:
    with pytest.raises(BadRequest) as raised:
        parse(text)
    assert raised.value.param == "model"
