"""Google's Gemini wire format (Gemini API and Vertex AI).
"""
