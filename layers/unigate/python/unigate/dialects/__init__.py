"""The client-facing API dialects unigate speaks besides OpenAI's chat completions (Anthropic's Messages,
OpenAI's Responses and legacy completions, Azure's deployment surface): pure translations of their
requests, responses and stream events to and from the chat form the gateway's pipeline runs on. No I/O;
the services that run them through the pipeline live in `unigate.gateway`."""
