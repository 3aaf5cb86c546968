"""All ORM models, imported here so Alembic and the app see one complete metadata."""

from plaudit.db.models.chat import (
    ChatAssignment,
    ChatConversation,
    ChatJob,
    ChatJudgment,
    ChatResponse,
    ChatSlot,
    ChatTurn,
    ChatUnit,
)
from plaudit.db.models.completion import Completion, CompletionTag, Tag
from plaudit.db.models.feedback import (
    Feedback,
    FeedbackCompletion,
    FeedbackRevision,
    FeedbackTask,
    FeedbackTaskVersion,
)
from plaudit.db.models.inbox import InboxSkip, InboxSlot
from plaudit.db.models.model import Model
from plaudit.db.models.org import ApiKey, Organization, User

__all__ = [
    "ChatAssignment",
    "ChatConversation",
    "ChatJob",
    "ChatJudgment",
    "ChatResponse",
    "ChatSlot",
    "ChatTurn",
    "ChatUnit",
    "ApiKey",
    "Completion",
    "CompletionTag",
    "Feedback",
    "FeedbackCompletion",
    "FeedbackRevision",
    "FeedbackTask",
    "FeedbackTaskVersion",
    "InboxSkip",
    "InboxSlot",
    "Model",
    "Organization",
    "Tag",
    "User",
]
