"""Endpoint queues: which claimed delivery goes on the wire next. In memory, no I/O.

Deliveries wait per endpoint (scheme, host, port), and within an endpoint per webhook (a "lane").
Three caps bound what is on the wire, each fair among those that share it:

- globally, `max_in_flight`, shared among accounts: an account may hold at most
  (cap - reserve) / (accounts with work), where the reserve is an eighth of the cap, so one
  account's hung receivers leave room for every other account;
- per endpoint, the endpoint's current limit (at most `max_in_flight_per_endpoint`), which protects
  the receiving host; shared the same way among the webhooks with work there, so one webhook's
  hanging path costs only its own share and a newcomer always finds the reserve free;
- the endpoint's limit itself adapts (AIMD): an answer 429 or 503 halves it (once per round of
  attempts: answers to attempts started before the cut do not cut again), every success grows it
  by one, back to the setting. Only that endpoint slows down.

Shares are computed when an attempt starts, from the number of lanes or accounts with work at that
moment; attempts already on the wire are never cut short, so a lane that took a bigger share while
alone keeps it until those attempts end. Endpoints with work take turns (round robin), and so do
the lanes of an endpoint.

Each lane's backlog is capped too: a lane whose queue is full is "saturated"; a delivery claimed
for it past the cap is handed back (`add` returns it) and the claim loop skips its webhook, so its
deliveries stay in the database. Once its queue has drained to half it is open again
(`on_unsaturated`), and the claim loop may take them. So a hung receiver can neither fill memory
nor stop the claiming of work for other webhooks, on its host or elsewhere.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from wahooks.models import AttemptOutcome, DeliveryJob

OVERLOADED = frozenset({429, 503})


def reserve(cap: int) -> int:
    """Slots a lone webhook or account leaves free for a newcomer under a cap of `cap`."""
    return cap // 8


@dataclass(eq=False, slots=True)
class Account:
    key: str
    in_flight: int = 0
    lanes: int = 0  # lanes with work, at every endpoint
    blocked: list[Lane] = field(default_factory=list)  # lanes that found it at its share


@dataclass(eq=False, slots=True)
class Endpoint:
    key: str
    limit: float  # current concurrency limit (AIMD), between 1 and the setting
    lanes: dict[str, Lane] = field(default_factory=dict)  # webhook id -> lane with work
    ready: deque[Lane] = field(default_factory=deque)  # lanes that may start an attempt, in turn
    in_flight: int = 0
    scheduled: bool = False  # in the ready ring of endpoints
    epoch: int = 0  # bumped at each cut: answers to attempts started earlier do not cut again


@dataclass(eq=False, slots=True)
class Lane:
    """One webhook's deliveries at one endpoint."""

    webhook_id: str
    endpoint: Endpoint
    account: Account
    waiting: deque[DeliveryJob] = field(default_factory=deque)
    in_flight: int = 0
    scheduled: bool = False  # in its endpoint's ready ring
    saturated: bool = False
    blocked: bool = False  # in its account's blocked list


@functools.lru_cache(maxsize=4096)  # read per delivery; parsing the URL each time cost 3 µs
def endpoint_key(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


class EndpointQueues:
    def __init__(
        self,
        *,
        max_in_flight: int,
        max_in_flight_per_endpoint: int,
        queue_cap: int,
        on_unsaturated: Callable[[], None],
    ) -> None:
        self._max_in_flight = max_in_flight
        self._account_pool = max(1, max_in_flight - reserve(max_in_flight))
        self._max_per_endpoint = max_in_flight_per_endpoint
        self._queue_cap = queue_cap
        self._on_unsaturated = on_unsaturated
        self._endpoints: dict[str, Endpoint] = {}
        self._accounts: dict[str, Account] = {}
        self._ready: deque[Endpoint] = deque()  # endpoints that may start an attempt, in turn
        self._queued = 0  # jobs waiting, all lanes
        self._queued_saturated = 0  # of which in saturated lanes
        self._in_flight = 0
        self._in_flight_ids: dict[str, int] = {}  # delivery id -> its endpoint's epoch at start
        self._saturated: set[str] = set()  # webhook ids of saturated lanes
        self._waiting: set[str] = set()  # webhook ids of lanes with deliveries waiting

    @property
    def queued(self) -> int:
        return self._queued

    @property
    def queued_open(self) -> int:
        """Jobs waiting in lanes that are not saturated: what the claim loop weighs."""
        return self._queued - self._queued_saturated

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def limit(self, url: str) -> float:
        """The current concurrency limit of the endpoint serving `url` (for tests and metrics)."""
        endpoint = self._endpoints.get(endpoint_key(url))
        return self._max_per_endpoint if endpoint is None else endpoint.limit

    def add(self, jobs: list[DeliveryJob]) -> list[DeliveryJob]:
        """Queue claimed jobs; return those past their lane's cap (to hand back, unsent)."""
        overflow: list[DeliveryJob] = []
        for job in jobs:
            lane = self._lane(job)
            if len(lane.waiting) >= self._queue_cap:
                overflow.append(job)
                continue
            if not lane.waiting:
                self._waiting.add(lane.webhook_id)
            lane.waiting.append(job)
            self._queued += 1
            if lane.saturated:
                self._queued_saturated += 1
            elif len(lane.waiting) >= self._queue_cap:
                lane.saturated = True
                self._saturated.add(lane.webhook_id)
                self._queued_saturated += len(lane.waiting)
            self._schedule(lane)
        return overflow

    def start_ready(self, start: Callable[[Lane, DeliveryJob], None]) -> None:
        """Hand `start` the jobs to start now, endpoints (and lanes within one) taking turns; each
        counts as in flight until `finished` is called for it. (A callback, not a generator: this
        runs after every attempt, and a generator object per call is measurable there.)"""
        while self._in_flight < self._max_in_flight and self._ready:
            endpoint = self._ready.popleft()
            lane = self._next_lane(endpoint)
            if lane is None:
                endpoint.scheduled = False
                continue
            job = lane.waiting.popleft()
            self._queued -= 1
            if not lane.waiting:
                self._waiting.discard(lane.webhook_id)
            if lane.saturated:
                self._leave_saturated_queue(lane)
            lane.in_flight += 1
            lane.account.in_flight += 1
            endpoint.in_flight += 1
            self._in_flight += 1
            self._ready.append(endpoint)  # endpoints take turns
            self._in_flight_ids[job.delivery_id] = endpoint.epoch
            start(lane, job)

    def finished(self, lane: Lane, job: DeliveryJob, outcome: AttemptOutcome | None) -> None:
        """An attempt ended; `outcome` is None when it never got one (cancelled at shutdown)."""
        epoch = self._in_flight_ids.pop(job.delivery_id, -1)
        endpoint, account = lane.endpoint, lane.account
        lane.in_flight -= 1
        account.in_flight -= 1
        endpoint.in_flight -= 1
        self._in_flight -= 1
        if outcome is not None:
            self._adapt(endpoint, epoch, outcome)
        if lane.waiting:
            self._schedule(lane)
        elif not lane.in_flight:
            self._retire(lane)
        self._schedule_endpoint(endpoint)
        if account.blocked:
            self._unblock(account)

    def take_waiting(self) -> list[DeliveryJob]:
        """Empty every queue (shutdown): the jobs claimed but not started."""
        unsent: list[DeliveryJob] = []
        for endpoint in self._endpoints.values():
            for lane in list(endpoint.lanes.values()):
                unsent += lane.waiting
                lane.waiting.clear()
                if not lane.in_flight:
                    self._retire(lane)
        self._queued = self._queued_saturated = 0
        self._waiting.clear()
        return unsent

    def held_ids(self) -> list[str]:
        """Deliveries this process holds a lease for: waiting here or on the wire."""
        held = [
            job.delivery_id
            for endpoint in self._endpoints.values()
            for lane in endpoint.lanes.values()
            for job in lane.waiting
        ]
        held += self._in_flight_ids
        return held

    def saturated_webhooks(self) -> frozenset[str]:
        return frozenset(self._saturated)

    def waiting_webhooks(self) -> frozenset[str]:
        """Webhooks with deliveries waiting here (saturated ones included)."""
        return frozenset(self._waiting)

    # internals ----------------------------------------------------------------------------------

    def _lane(self, job: DeliveryJob) -> Lane:
        key = endpoint_key(job.url)
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            endpoint = self._endpoints[key] = Endpoint(key, float(self._max_per_endpoint))
        lane = endpoint.lanes.get(job.webhook_id)
        if lane is None:
            # A lane exists while its webhook has work here: its count sets everyone's share.
            account = self._accounts.get(job.account_id)
            if account is None:
                account = self._accounts[job.account_id] = Account(job.account_id)
            account.lanes += 1
            lane = endpoint.lanes[job.webhook_id] = Lane(job.webhook_id, endpoint, account)
        return lane

    def _retire(self, lane: Lane) -> None:
        """The lane has no work left: it no longer counts towards any share."""
        endpoint, account = lane.endpoint, lane.account
        if endpoint.lanes.get(lane.webhook_id) is not lane:
            return
        del endpoint.lanes[lane.webhook_id]
        if lane.saturated:
            lane.saturated = False
            self._saturated.discard(lane.webhook_id)
        account.lanes -= 1
        if not account.lanes:
            del self._accounts[account.key]
            # One account fewer: every other account's share grew.
            for other in self._accounts.values():
                if other.blocked:
                    self._unblock(other)

    def _next_lane(self, endpoint: Endpoint) -> Lane | None:
        """The lane of `endpoint` whose turn it is and that is under its shares, or None."""
        if endpoint.in_flight >= int(endpoint.limit) or not endpoint.lanes:
            return None
        limit = int(endpoint.limit)
        # Rounded up, so that lanes (accounts) at their shares leave no slot idle among them.
        lane_share = max(1, -(-(limit - reserve(limit)) // len(endpoint.lanes)))
        account_share = max(1, -(-self._account_pool // len(self._accounts)))
        ready = endpoint.ready
        while ready:
            lane = ready.popleft()
            if not lane.waiting or lane.in_flight >= lane_share:
                lane.scheduled = False  # its own next `finished` schedules it again
                continue
            if lane.account.in_flight >= account_share:
                lane.scheduled = False
                if not lane.blocked:
                    lane.blocked = True
                    lane.account.blocked.append(lane)
                continue
            ready.append(lane)  # lanes take turns
            return lane
        return None

    def _schedule(self, lane: Lane) -> None:
        if not lane.scheduled and lane.waiting:
            lane.scheduled = True
            lane.endpoint.ready.append(lane)
        self._schedule_endpoint(lane.endpoint)

    def _schedule_endpoint(self, endpoint: Endpoint) -> None:
        if not endpoint.scheduled and endpoint.ready and endpoint.in_flight < int(endpoint.limit):
            endpoint.scheduled = True
            self._ready.append(endpoint)

    def _unblock(self, account: Account) -> None:
        blocked, account.blocked = account.blocked, []
        for lane in blocked:
            lane.blocked = False
            self._schedule(lane)

    def _adapt(self, endpoint: Endpoint, epoch: int, outcome: AttemptOutcome) -> None:
        if outcome.status_code in OVERLOADED:
            if epoch == endpoint.epoch:  # one cut per round of attempts
                endpoint.limit = max(1.0, endpoint.limit / 2)
                endpoint.epoch += 1
        elif outcome.succeeded and endpoint.limit < self._max_per_endpoint:
            endpoint.limit = min(float(self._max_per_endpoint), endpoint.limit + 1)

    def _leave_saturated_queue(self, lane: Lane) -> None:
        self._queued_saturated -= 1
        if len(lane.waiting) < self._queue_cap // 2:
            # Drained to half: its waiting deliveries may be claimed again.
            lane.saturated = False
            self._saturated.discard(lane.webhook_id)
            self._queued_saturated -= len(lane.waiting)
            self._on_unsaturated()
