"""How a reply is produced, in three steps: context -> run -> persist.

- `context.py`  what the model sees: ordered steps (profile preamble, history, tools offered)
- `run.py`      the model, once per step, stream or not; the tool loop between steps
- `persist.py`  placeholder, checkpoints, tool items, the final state, written once
- `approvals.py` continuing a reply that stopped for a tool approval (on regenerate)
- `respond.py`  the shape a streamed reply's events take (chat.completion.chunk by default)
- `tools.py`    the seam server-side tools plug into (ToolRunner)
- `pipeline.py` the entry points (chat completions, conversation items, regenerate), each
  streamed or not; `deps.py` what they are given (ReplyDeps, Generation, after-reply hooks)
Events on the wire are decoded in one place, `parlay.providers.sse`.
"""

from parlay.services.replies.context import (
    CONTEXT_STEPS,
    HISTORY_LIMIT,
    ContextStep,
    ContextSteps,
    ReplyContext,
    choose_model,
)
from parlay.services.replies.deps import (
    AfterReply,
    FinishedTurn,
    Generation,
    ReplyDeps,
    tell_after_reply,
)
from parlay.services.replies.persist import (
    CHECKPOINT_SECONDS,
    ReplyOutcome,
    ReplySink,
    ReplyStore,
)
from parlay.services.replies.pipeline import (
    ChatAnswer,
    ReplyPipeline,
    SentItems,
    StoredTurn,
    StreamedReply,
)
from parlay.services.replies.respond import ChatChunks, StreamShape
from parlay.services.replies.run import MAX_STEPS, ReplyRun, Resume
from parlay.services.replies.tools import (
    ToolCall,
    ToolResult,
    ToolRunner,
    ToolRunnerFactory,
    ToolStatus,
)

__all__ = [
    "CHECKPOINT_SECONDS", "CONTEXT_STEPS", "HISTORY_LIMIT", "MAX_STEPS", "AfterReply",
    "ChatAnswer", "ChatChunks", "ContextStep", "ContextSteps", "FinishedTurn", "Generation",
    "ReplyContext",
    "ReplyDeps", "ReplyOutcome", "ReplyPipeline", "ReplyRun", "ReplySink", "ReplyStore",
    "Resume", "SentItems", "StoredTurn", "StreamShape", "StreamedReply", "ToolCall",
    "ToolResult", "ToolRunner", "ToolRunnerFactory", "ToolStatus", "choose_model",
    "tell_after_reply",
]
