"""The providers unigate reaches, each with its adapter family, base URL, key variable and the LiteLLM
provider keys whose entries it serves. This table is the hand-kept part of the catalog: prices,
limits and capabilities come from LiteLLM's map (see generate.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Provider:
    name: str
    family: str
    litellm: tuple[str, ...]
    base_url: str | None
    env: str | None
    params: tuple[str, ...]
    # The dialects this upstream serves natively (passed through instead of translated).
    native: tuple[str, ...] = ()
    api_version: str | None = None
    # Self-hosted: no key, and the source's zero prices mean free, not unknown.
    self_hosted: bool = False
    embeddings: bool = True

    @property
    def secret(self) -> str | None:
        return None if self.env is None else self.name


# OpenAI's chat parameters in groups: what nearly every OpenAI-compatible server takes, and what is
# added when the source says a provider's models support it (supports_* flags).
CORE = ("temperature", "top_p", "max_tokens", "stop", "stream", "seed", "presence_penalty", "frequency_penalty")
FULL = (*CORE, "max_completion_tokens", "n", "logit_bias", "logprobs", "top_logprobs", "user", "stream_options",
        "reasoning_effort", "prediction", "modalities", "audio", "metadata", "store", "service_tier")
TOOLS = ("tools", "tool_choice", "parallel_tool_calls")
SCHEMA = ("response_format",)
REASONING = ("reasoning_effort",)
COMPAT = (*CORE, "n", "user", "stream_options", "logprobs")


def _compat(name: str, litellm: str | tuple[str, ...], base_url: str, env: str | None, *,
            params: tuple[str, ...] = COMPAT, native: tuple[str, ...] = (), self_hosted: bool = False) -> Provider:
    keys = (litellm,) if isinstance(litellm, str) else litellm
    return Provider(name, "openai", keys, base_url, env, params, native, self_hosted=self_hosted)


PROVIDERS: tuple[Provider, ...] = (
    # OpenAI serves /v1/completions only for its instruct models, which the source lists apart (mode
    # "completion"): its chat models are translated for completions requests.
    Provider("openai", "openai", ("openai",), "https://api.openai.com/v1", "OPENAI_API_KEY", FULL, ("responses",)),
    Provider("anthropic", "anthropic", ("anthropic",), "https://api.anthropic.com/v1", "ANTHROPIC_API_KEY",
             ("temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "parallel_tool_calls", "stream",
              "stream_options", "user"), ("messages",)),
    # Claude on Vertex AI: Anthropic's format in Vertex's rawPredict envelope. The base URL names the
    # project and region (the operator's own, in the catalog or in the key's secret as "base_url"); the
    # key is an OAuth access token.
    Provider("vertex-anthropic", "vertex-anthropic", ("vertex_ai-anthropic_models",),
             "https://us-east5-aiplatform.googleapis.com/v1/projects/YOUR-PROJECT/locations/us-east5/publishers/"
             "anthropic/models", "VERTEX_ANTHROPIC_ACCESS_TOKEN",
             ("temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "parallel_tool_calls", "stream",
              "stream_options", "user"), ("messages",), embeddings=False),
    Provider("gemini", "gemini", ("gemini",), "https://generativelanguage.googleapis.com/v1beta", "GEMINI_API_KEY",
             ("temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "stream", "stream_options", "n",
              "seed", "presence_penalty", "frequency_penalty")),
    Provider("vertex-ai", "gemini", ("vertex_ai-language-models",),
             "https://aiplatform.googleapis.com/v1/publishers/google", "VERTEX_API_KEY",
             ("temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "stream", "stream_options", "n",
              "seed", "presence_penalty", "frequency_penalty"), embeddings=False),
    Provider("aws-bedrock", "bedrock", ("bedrock_converse", "bedrock"), None, None,
             ("temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "stream", "stream_options")),
    Provider("azure-openai", "azure-openai", ("azure",), "https://YOUR-RESOURCE.openai.azure.com",
             "AZURE_OPENAI_API_KEY", FULL, ("responses",), api_version="2024-10-21"),
    Provider("azure-ai", "azure-ai", ("azure_ai",), "https://YOUR-RESOURCE.services.ai.azure.com/models",
             "AZURE_AI_API_KEY", (*CORE, "stream_options"), api_version="2024-05-01-preview"),
    _compat("mistral-ai", "mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY", params=(*CORE, "n")),
    _compat("together-ai", "together_ai", "https://api.together.xyz/v1", "TOGETHER_API_KEY", native=("completions",)),
    _compat("groq", "groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY",
            params=(*CORE, "user", "stream_options")),
    _compat("fireworks-ai", ("fireworks_ai", "fireworks_ai-embedding-models"), "https://api.fireworks.ai/inference/v1",
            "FIREWORKS_API_KEY", params=(*COMPAT, "top_logprobs"), native=("completions",)),
    _compat("deepinfra", "deepinfra", "https://api.deepinfra.com/v1/openai", "DEEPINFRA_API_KEY",
            native=("completions",)),
    _compat("perplexity-ai", "perplexity", "https://api.perplexity.ai", "PERPLEXITYAI_API_KEY",
            params=("temperature", "top_p", "max_tokens", "stream", "presence_penalty", "frequency_penalty")),
    _compat("xai", "xai", "https://api.x.ai/v1", "XAI_API_KEY", params=(*COMPAT, "top_logprobs")),
    _compat("deepseek", "deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    _compat("cerebras", "cerebras", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY"),
    _compat("sambanova", "sambanova", "https://api.sambanova.ai/v1", "SAMBANOVA_API_KEY"),
    _compat("nebius", "nebius", "https://api.studio.nebius.com/v1", "NEBIUS_API_KEY"),
    _compat("novita", "novita", "https://api.novita.ai/v3/openai", "NOVITA_API_KEY"),
    _compat("hyperbolic", "hyperbolic", "https://api.hyperbolic.xyz/v1", "HYPERBOLIC_API_KEY"),
    _compat("cohere", ("cohere_chat", "cohere"), "https://api.cohere.ai/compatibility/v1", "COHERE_API_KEY",
            params=CORE),
    _compat("moonshot", "moonshot", "https://api.moonshot.ai/v1", "MOONSHOT_API_KEY"),
    _compat("dashscope", "dashscope", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "DASHSCOPE_API_KEY"),
    _compat("zai", "zai", "https://api.z.ai/api/paas/v4", "ZAI_API_KEY"),
    _compat("minimax", "minimax", "https://api.minimax.io/v1", "MINIMAX_API_KEY"),
    _compat("volcengine", "volcengine", "https://ark.cn-beijing.volces.com/api/v3", "ARK_API_KEY"),
    _compat("lambda-ai", "lambda_ai", "https://api.lambda.ai/v1", "LAMBDA_API_KEY"),
    _compat("nscale", "nscale", "https://inference.api.nscale.com/v1", "NSCALE_API_KEY"),
    _compat("scaleway", "scaleway", "https://api.scaleway.ai/v1", "SCW_SECRET_KEY"),
    _compat("ovhcloud", "ovhcloud", "https://oai.endpoints.kepler.ai.cloud.ovh.net/v1", "OVHCLOUD_API_KEY"),
    _compat("featherless-ai", "featherless_ai", "https://api.featherless.ai/v1", "FEATHERLESS_API_KEY"),
    _compat("friendliai", "friendliai", "https://api.friendli.ai/serverless/v1", "FRIENDLI_TOKEN"),
    _compat("baseten", "baseten", "https://inference.baseten.co/v1", "BASETEN_API_KEY"),
    _compat("wandb", "wandb", "https://api.inference.wandb.ai/v1", "WANDB_API_KEY"),
    _compat("meta-llama", "meta_llama", "https://api.llama.com/compat/v1", "LLAMA_API_KEY"),
    _compat("ai21", "ai21", "https://api.ai21.com/studio/v1", "AI21_API_KEY"),
    _compat("inception", "inception", "https://api.inceptionlabs.ai/v1", "INCEPTION_API_KEY"),
    _compat("gmi", "gmi", "https://api.gmi-serving.com/v1", "GMI_API_KEY"),
    _compat("vercel-ai-gateway", "vercel_ai_gateway", "https://ai-gateway.vercel.sh/v1", "AI_GATEWAY_API_KEY"),
    # Self-hosted servers: no key; the operator points base_url at their server (UNIGATE_CATALOG_PATH).
    _compat("ollama", "ollama", "http://127.0.0.1:11434/v1", None, native=("completions",), self_hosted=True),
    _compat("vllm", (), "http://127.0.0.1:8000/v1", None, native=("completions",), self_hosted=True),
    _compat("lm-studio", (), "http://127.0.0.1:1234/v1", None, native=("completions",), self_hosted=True),
    _compat("tgi", (), "http://127.0.0.1:8080/v1", None, self_hosted=True),
)
