"""The Responses API (`/v1/responses`) as an adapter over one model step.

  request.py     the request body, validated (what is not supported is refused, not ignored)
  context.py     the turn: stored input items, the model, the messages it sees
  model_step.py  the one seam to the model (today ChatService; later the reply pipeline)
  run.py         step events -> output items, stream events, final status
  stream.py      the streamed response (stored before its end is sent; disconnect cancels)
  store.py       storage rules (responses, their items, conversation items)
  service.py     ResponseService: create / get / delete / input items
"""

from parlay.services.responses.model_step import ChatModelStep, ModelStep
from parlay.services.responses.service import ResponseService
from parlay.services.responses.stream import ResponseEventStream

__all__ = ["ChatModelStep", "ModelStep", "ResponseEventStream", "ResponseService"]
