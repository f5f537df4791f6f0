"""The per-connection I/O loop shared by server and client, with its timers, watchdog and recv() queue."""

from .budget import DEFAULT_MEMORY_BUDGET, MemoryBudget, set_memory_budget

__all__ = ["DEFAULT_MEMORY_BUDGET", "MemoryBudget", "set_memory_budget"]
