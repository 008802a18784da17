"""The benchmark: evalkit against a bare asyncio + AsyncOpenAI loop on the same calls (`make bench`)."""
