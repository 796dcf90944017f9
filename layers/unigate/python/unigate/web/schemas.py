"""Request and response bodies of the public routes (pydantic), shared by the apps and the OpenAPI document."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Credits(BaseModel):
    id: str = Field(description="The account the calling key belongs to.")
    credits: float = Field(description="Available balance in credits (1 credit = 1 USD).", examples=[232.32])

