"""Adapters to other frameworks. Import the one you need (``agentkit.integrations.langchain``); each needs
that framework installed."""
