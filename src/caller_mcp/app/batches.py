"""Following batches: status with a page of recipients, the list of batches, cancelling one."""

from __future__ import annotations

import anyio
import anyio.to_thread

from ..domain import inputs
from ..domain.batches import BatchReport, progress, recipient_states, state_counts
from ..domain.caps import iso
from ..errors import CallerError, InvalidInput, NotFound, ProviderStatusError
from ..ports import Provider
from .recording import recipient_rows, record_batch_calls
from .results import BatchListResult, BatchStatusResult, BatchSummary, CancelBatchResult, RecipientResult
from .services import LOCAL_PRINCIPAL, Services

#: Recipients per ``get_batch_status`` page: default and most.
DEFAULT_RECIPIENT_PAGE = 20
MAX_RECIPIENT_PAGE = inputs.MAX_RECIPIENT_PAGE
#: Most batches ``list_batches`` returns, and the provider's page size when it pages.
MAX_BATCH_LIST = inputs.MAX_BATCH_LIST
WORKSPACE_PAGE_SIZE = 100
#: Most workspace pages one ``list_batches`` reads (a full answer needs 5) and the seconds it
#: spends reading them: a provider that keeps answering ``has_more`` (with empty or short pages)
#: is not paged forever; the answer then says it stopped early (``stopped_early``).
MAX_WORKSPACE_PAGES = 10
WORKSPACE_BUDGET_SECS = 20.0
#: Above this many recipients, a poll's per-recipient work (counts, filter, comparison with the
#: store) runs on a worker thread, not on the event loop.
OFF_LOOP_RECIPIENTS = 2_000


async def batch_provider(services: Services, batch_id: object) -> Provider:
    """The provider of a batch: the one that submitted it, when this server did (its store row names
    it), else the default provider."""
    local = await services.store.get_batch(batch_id) if isinstance(batch_id, str) else None
    return services.provider(local.provider if local is not None else None)


async def read_batch(services: Services, provider: Provider, method: str, batch_id: str) -> BatchReport:
    """Call ``provider.<method>(batch_id)`` (``get_batch``, ``cancel_batch``) with a checked id.

    Raises:
        InvalidInput: a malformed id. NotFound: the provider does not know the batch.
        ProviderError: any other provider failure.
    """
    batch_id = inputs.identifier(batch_id, "batch_id", "the id submit_batch or list_batches returned")
    try:
        return await getattr(provider, method)(batch_id)
    except ProviderStatusError as exc:
        if exc.status == 404:
            raise NotFound(
                f"No batch {batch_id} exists for this {provider.name} account "
                f"(the provider said: {exc.detail}). Use the batch_id that submit_batch or list_batches returned."
            ) from exc
        raise


async def get_batch_status(
    services: Services, batch_id: str, status: str | None = None, offset: int = 0, limit: int = DEFAULT_RECIPIENT_PAGE
) -> BatchStatusResult:
    """A batch's progress and one page of its recipients.

    Args:
        batch_id: the provider's batch id.
        status: only recipients in these statuses (comma-separated, e.g. ``failed,voicemail``).
        offset, limit: the page of matching recipients (``limit`` 1 to :data:`MAX_RECIPIENT_PAGE`).
    Returns:
        Status, ``progress`` (finished / scheduled recipients, 0-1), counts per recipient
        status, the page (number, status, conversation id), how many match, and the next
        page's offset (``None`` on the last page). Recipients' calls are recorded in the store
        (see :func:`record_poll`).
    Raises:
        InvalidInput: a malformed id, status or page. NotFound: the provider does not know the
        batch. NotSupported: the provider has no batches. ConfigError, ProviderError.
    """
    wanted = inputs.recipient_statuses(status)
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidInput("offset must be 0 or more (the next_offset of the previous answer).")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RECIPIENT_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_RECIPIENT_PAGE}.")
    provider = await batch_provider(services, batch_id)
    services.require(provider, "batches")
    batch = await read_batch(services, provider, "get_batch", batch_id)

    def tally() -> tuple[dict[str, int], list[int]]:  # counts, and which recipients match the filter
        states = recipient_states(batch.recipients)
        return state_counts(states), [i for i, state in enumerate(states) if wanted is None or state[0] in wanted]

    large = len(batch.recipients) > OFF_LOOP_RECIPIENTS
    counts, matching = await anyio.to_thread.run_sync(tally) if large else tally()
    page = [batch.recipients[i] for i in matching[offset : offset + limit]]  # built for the page only
    await record_poll(services, provider, batch, counts)
    # Recipient ids are shown when they are the caller's own (given to submit_batch here), not
    # the ones the provider made up for recipients submitted without one.
    spent = await services.store.batch_costs(batch.batch_id)
    own_ids: set[str] = set()
    if page and any(r.recipient_id for r in page):
        entries = await services.store.batch_recipient_entries(
            batch.batch_id, ids=sorted({r.recipient_id for r in page if r.recipient_id})
        )
        own_ids = {entry["id"] for entry in entries or () if entry.get("id")}
    return BatchStatusResult(
        batch_id=batch.batch_id,
        name=batch.name,
        status=batch.status,
        progress=progress(counts, batch.total_calls_scheduled or len(batch.recipients)),
        total_calls_scheduled=batch.total_calls_scheduled,
        total_calls_dispatched=batch.total_calls_dispatched,
        scheduled_time_unix=batch.scheduled_time_unix,
        last_updated_at_unix=int(batch.last_updated_at) if batch.last_updated_at is not None else None,
        cost=round(spent["cost"], 6) if spent["calls"] else None,
        cost_unit=spent["cost_unit"] if spent["calls"] else None,
        cost_usd=round(spent["cost_usd"], 6) if spent["calls_usd"] else None,
        costed_calls=spent["calls"] or None,
        counts=counts,
        provider_counts=batch.status_breakdown or None,
        recipients=[
            RecipientResult(
                phone_number=r.phone_number,
                id=r.recipient_id if r.recipient_id in own_ids else None,
                status=r.status,
                conversation_id=r.call_ref,
                provider_status=r.provider_status if r.provider_status not in (None, r.status) else None,
                duration_secs=r.duration_secs,
                error=r.error,
            )
            for r in page
        ],
        recipients_matching=len(matching),
        next_offset=offset + limit if offset + limit < len(matching) else None,
        warning=batch.incomplete,
        **services.answered_by(provider),
    )


async def record_poll(services: Services, provider: Provider, batch: BatchReport, counts: dict[str, int]) -> None:
    """Write what a status poll learnt, and only that.

    Nothing at all when the batch's status, ``last_updated_at``, dispatched count and counts per
    status are those this process last recorded (``Services.remember_poll``). Otherwise the
    batch's status, and the calls of recipients whose status differs from the store's (new
    conversations included): a poll writes in proportion to what changed, not to the batch.
    """
    signature = (batch.status, batch.last_updated_at, batch.total_calls_dispatched, tuple(counts.items()))
    if batch.last_updated_at is not None and services.polled.get(batch.batch_id) == signature:
        return
    store = services.store
    await store.update_batch_status(batch.batch_id, batch.status)
    if any(state[2] for state in recipient_states(batch.recipients)):  # else nothing to record: skip the lookups
        known = await store.batch_call_statuses(batch.batch_id)
        if len(batch.recipients) > OFF_LOOP_RECIPIENTS:
            rows = await anyio.to_thread.run_sync(lambda: recipient_rows(batch.recipients, services.now(), known=known))
        else:
            rows = recipient_rows(batch.recipients, services.now(), known=known)
        await record_batch_calls(store, provider.name, batch.batch_id, rows)
    services.remember_poll(batch.batch_id, signature)  # only once written: a failed write is tried again



async def list_batches(services: Services, limit: int = 20, *, principal: str = LOCAL_PRINCIPAL) -> BatchListResult:
    """``principal``'s batches (store) merged with the workspace's batch list, newest first.

    Batches another principal submitted here are left out; the workspace's batches submitted
    elsewhere (the provider's dashboard, another tool) are shown to everyone.

    When the provider cannot be read, the store's batches are returned with a ``warning``. The
    workspace is read for at most :data:`MAX_WORKSPACE_PAGES` pages and
    :data:`WORKSPACE_BUDGET_SECS` seconds (a page read under way is abandoned when the time is
    up); stopping while the provider still says more remain sets ``stopped_early`` and a
    ``warning`` that says what was read and what to do.

    Args:
        limit: 1 to :data:`MAX_BATCH_LIST`.
    Raises:
        InvalidInput: a bad limit. ConfigError: the configuration is incomplete.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_BATCH_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_BATCH_LIST}.")
    provider = services.provider()
    services.require(provider, "batches")
    store = services.store
    remote: list[BatchReport] = []
    warning = None
    cursor: str | None = None
    pages = 0
    stopped_early = False
    deadline = services.monotonic() + WORKSPACE_BUDGET_SECS
    try:
        while len(remote) < limit:
            left = deadline - services.monotonic()
            if pages >= MAX_WORKSPACE_PAGES or left <= 0:
                stopped_early = True
                break
            with anyio.move_on_after(left) as scope:
                page = await provider.list_batches(min(WORKSPACE_PAGE_SIZE, limit - len(remote)), cursor)
            if scope.cancelled_caught:
                stopped_early = True
                break
            pages += 1
            remote.extend(page.batches)
            if not page.cursor or page.cursor == cursor:
                break
            cursor = page.cursor
    except CallerError as exc:  # unreachable, refused, or not configured (TALKIFAI_ORGANIZATION_ID)
        warning = f"The provider's batch list could not be read ({exc}); showing this server's records only."
    if stopped_early:
        warning = (
            f"Stopped reading the provider's batch list after {pages} page{'s' if pages != 1 else ''} "
            f"({len(remote)} workspace batches) and {WORKSPACE_BUDGET_SECS - max(0.0, deadline - services.monotonic()):.0f} s, "
            "though it said more remain: older workspace batches may be missing below. Ask for a smaller limit, "
            "or look them up in the provider's dashboard; get_batch_status reads any batch by id."
        )
    entries: list[tuple[float, BatchSummary]] = []
    seen: set[str] = set()
    for batch in remote[:limit]:
        local = await store.get_batch(batch.batch_id)
        if local is not None:
            await store.update_batch_status(batch.batch_id, batch.status)
        seen.add(batch.batch_id)
        if local is not None and (local.principal or LOCAL_PRINCIPAL) != principal:
            continue
        created = float(batch.created_at or (local.created_at if local else 0))
        summary = BatchSummary(
            batch_id=batch.batch_id,
            name=batch.name,
            status=batch.status,
            total_calls_scheduled=batch.total_calls_scheduled,
            total_calls_dispatched=batch.total_calls_dispatched,
            created_at=iso(created) if created else None,
            submitted_here=local is not None,
            local_id=local.local_id if local else None,
            provider=provider.name,
        )
        entries.append((created, summary))
    for local in await store.list_batches(limit, principal=principal):
        if local.batch_id is not None and local.batch_id in seen:
            continue
        summary = BatchSummary(
            batch_id=local.batch_id,
            name=local.name,
            status=local.status,
            total_calls_scheduled=local.total_recipients,
            created_at=iso(local.created_at),
            submitted_here=True,
            local_id=local.local_id,
            error=local.error,
            provider=local.provider,
        ).own(name=local.name)  # the name given to submit_batch here, not the workspace's
        entries.append((local.created_at, summary))
    entries.sort(key=lambda item: item[0], reverse=True)
    batches = [summary for _, summary in entries[:limit]]
    return BatchListResult(
        batches=batches,
        count=len(batches),
        warning=warning,
        stopped_early=stopped_early or None,
        **services.answered_by(provider),
    )


async def cancel_batch(services: Services, batch_id: str) -> CancelBatchResult:
    """Cancel a batch call: recipients not yet called are set to ``cancelled``.

    Raises:
        InvalidInput, NotFound, NotSupported, ConfigError, ProviderError: as for :func:`get_batch_status`.
    """
    provider = await batch_provider(services, batch_id)
    services.require(provider, "batches")
    batch = await read_batch(services, provider, "cancel_batch", batch_id)
    await services.store.update_batch_status(batch.batch_id, batch.status)
    return CancelBatchResult(
        batch_id=batch.batch_id,
        name=batch.name,
        status=batch.status,
        **services.answered_by(provider),
    )
