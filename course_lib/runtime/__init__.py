"""The course's own model runtime, the floors below the client (an import only ever goes down):

    chat_format, weights, lora_gguf, encoder   the model's files and how a conversation becomes text
    engine                                     llama.cpp in this process: slots, prompt cache, adapters per request
    server                                     the OpenAI-compatible API over the engine (in-process or on a port)

Above these: the client (`course_lib.llm`, `course_lib.embeddings`), then the lesson helpers, then the exercises,
the tools and the notebooks. Lesson code reaches the engine only through the client and the small facade
`llm.local_engine(client)`; tests/test_layers.py keeps it so.
"""
