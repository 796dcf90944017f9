"""OpenAI's wire formats: chat completions (and every OpenAI-compatible server), legacy completions,
embeddings and Responses.
"""
