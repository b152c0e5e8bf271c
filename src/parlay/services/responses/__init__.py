"""The Responses API (`/v1/responses`) as an adapter over the reply pipeline's run step.

  request.py     the request body, validated (what is not supported is refused, not ignored)
  tool_specs.py  its `tools`: the client's functions and the hosted tools Parlay runs
  context.py     the turn: stored input items, the model, the messages and tools it sees
  tools.py       the hosted tools (web_search, code_interpreter, mcp) as Parlay's tools
  events.py      ResponseShape: what the run does -> output items, stream events, status
  items.py       the output items while they are produced
  store.py       storage rules (responses, their items, conversation items); ResponseSink
  service.py     ResponseService: create / get / delete / input items
"""

from parlay.services.responses.service import ResponseService

__all__ = ["ResponseService"]
