"""Amazon Bedrock's Converse and InvokeModel wire formats.
"""
