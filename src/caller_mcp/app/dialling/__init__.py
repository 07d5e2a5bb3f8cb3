"""Dialling: plan → confirm → execute, for a single call, a batch and a batch retry.

A dial is planned once (:func:`plan_call`, :func:`plan_batch`, :func:`plan_retry`): every check
that needs no write runs there — input, description, dial policy, batch size — and the plan holds
the exact provider request. The confirmation question is worded from the plan, and shows its
fingerprint; execution sends that same plan. The redial guard and the hourly cap are decided
together with writing the intent, in one store transaction (``store.reserve_*``).

The behaviour of ``place_call`` is seed 002's ``/api/call``: description from the argument, else
the stored context (else ``Provide a business description first.``); scenario from the argument,
else the context, else seed 002's default.
"""

from .batch import MAX_DRY_RUN_RECIPIENTS, BatchPlan, batch_question, plan_batch, submit_batch
from .call import CallPlan, call_question, place_call, plan_call
from .common import MAX_LISTED_ERRORS, fingerprint
from .retry import RetryPlan, plan_retry, retry_batch, retry_question

__all__ = [
    "MAX_DRY_RUN_RECIPIENTS", "MAX_LISTED_ERRORS", "BatchPlan", "CallPlan", "RetryPlan", "batch_question",
    "call_question", "fingerprint", "place_call", "plan_batch", "plan_call", "plan_retry", "retry_batch",
    "retry_question", "submit_batch",
]
