"""plaudit's client SDK: wrappers, tags, background transport, feedback.

Imports nothing from plaudit's server packages (api, db, core), so an application installs
and imports only what it uses.
"""

from plaudit.sdk.config import configure
from plaudit.sdk.context import tags
from plaudit.sdk.feedback import FeedbackError, feedback
from plaudit.sdk.ids import completion_id
from plaudit.sdk.transport import flush

__all__ = ["FeedbackError", "completion_id", "configure", "feedback", "flush", "tags"]
