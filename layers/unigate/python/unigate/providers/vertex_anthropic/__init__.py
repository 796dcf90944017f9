"""Claude on Vertex AI: Anthropic's Messages format in Vertex's rawPredict envelope.
"""
