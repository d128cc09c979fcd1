"""The wahooks MCP server: AI agents drive connections, messages and webhooks through MCP tools.

One set of tools (`tools/`), each a call of the async SDK made as the caller, served two ways:
`wahooks mcp` over stdio against any wahooks server's API (`stdio.py`), and Streamable HTTP at
`/mcp` on the server itself (`http.py` mounts it, `endpoint.py` serves it). Resources and a
prompt (`resources.py`) give an agent the event catalogue and the signature scheme, to write a
receiver.

Not yet here, because the API has no route for them: one delivery's attempts on their own (they
come with each delivery in `get_delivery_logs`) and recovering the events since a point in time.
"""
