"""Agent roles: an ``LLMAgent`` is a role + a task + a model."""

from agentkit.agents.llm_agent import AgentOutput, ContextBlock, LLMAgent, fit_context
from agentkit.agents.roles import BUILTIN_ROLES, KEYWORD_EXTRACTION, QA, QUESTION_EXTRACTION, Role
from agentkit.language import language_rule  # one rule for every role: agentkit.language

__all__ = [
    "AgentOutput", "ContextBlock", "LLMAgent", "fit_context", "Role", "BUILTIN_ROLES", "QA",
    "QUESTION_EXTRACTION", "KEYWORD_EXTRACTION", "language_rule",
]
