"""Conversations: sessions with window-aware trimming, routing between a standard and a pro model,
guardrails with retry and fallback, and the engine that runs one turn."""

from agentkit.chat.engine import ChatEngine, TurnResult
from agentkit.chat.guardrails import (
    AttachmentClaims,
    Check,
    Decision,
    Degenerate,
    GuardedChat,
    GuardedReply,
    LanguageRule,
    Turn,
    attachment_claim,
    fit_to_window,
    repetitive,
)
from agentkit.chat.router import EFFORT, Route, Router, effort_params
from agentkit.chat.session import Attachment, ChatSession, SessionStore, trim

__all__ = [
    "ChatEngine", "TurnResult", "AttachmentClaims", "Check", "Decision", "Degenerate", "GuardedChat", "GuardedReply", "LanguageRule", "Turn",
    "attachment_claim", "fit_to_window", "repetitive", "EFFORT", "Route", "Router", "effort_params", "Attachment", "ChatSession", "SessionStore", "trim",
]
