"""Request and response bodies of the public routes (pydantic), shared by the apps and the OpenAPI document."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Credits(BaseModel):
    id: str = Field(description="The account the calling key belongs to.")
    credits: float = Field(description="Available balance in credits (1 credit = 1 USD).", examples=[232.32])


class MetricsPoint(BaseModel):
    start: str = Field(description="Start of the step (UTC, ISO 8601).")
    samples: int = Field(description="Upstream attempts measured in the step.")
    ttft: float | None = Field(description="Median time to first token, ms (streams only).")
    ttft_p90: float | None = Field(description="90th percentile time to first token, ms.")
    itl: float | None = Field(description="Median inter-token latency, ms.")
    itl_p90: float | None = Field(description="90th percentile inter-token latency, ms.")
    tks_per_sec: float | None = Field(description="Mean output tokens per second while generating.")
    error_rate: float | None = Field(description="Share of attempts that failed on the provider's side (429, 5xx, "
                                                 "timeouts, connection errors); null without samples.")


class MetricsHistory(BaseModel):
    endpoint: str
    since: str = Field(description="Start of the first step (UTC, ISO 8601).")
    step: int = Field(description="Seconds per step.")
    points: list[MetricsPoint] = Field(description="Every step from `since` to now, oldest first; empty steps have "
                                                   "null figures.")


class MetaChoice(BaseModel):
    meta_provider: str = Field(examples=["@lowest-ttft"])
    endpoint: str | None = Field(description="Where `<model><meta_provider>` would go now; null when nowhere.")
    reason: str | None = Field(description="Why there is no endpoint (the error a request would get).")


class MetaChoices(BaseModel):
    model: str
    choices: list[MetaChoice]
