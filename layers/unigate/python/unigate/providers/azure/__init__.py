"""Azure OpenAI and Azure AI model inference: the OpenAI wire format with Azure's URLs and key header.
"""
