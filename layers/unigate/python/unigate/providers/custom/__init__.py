"""A caller's own OpenAI-compatible endpoint (`name@custom`), pinned to its vetted address.
"""
