"""Read replicas: PostgreSQL streaming replicas that serve the reads of safe HTTP requests.

``SQL_REPLICA_HOSTS`` (``host:port,host:port``) adds the databases ``replica_1``,
``replica_2``, … with the primary's database name, user and password.
``ReplicaMiddleware`` marks each request; ``ReplicaRouter`` then sends the reads
of a GET, HEAD or OPTIONS request that has written nothing to one replica,
chosen per request in turn. Everything else reads from the primary: writes and
the rest of a request that wrote, other methods, and all work outside requests
(tasks, commands, migrations), which may act on what it reads.

A request that wrote leaves a cookie that keeps the same browser's reads on
the primary for ``PRIMARY_AFTER_WRITE_S``, so that what it shows next holds
the change (read-your-writes across requests, as far as cookies go).

A replica that cannot be reached is skipped for ``REPLICA_SKIP_SECONDS`` and
the request reads from the primary instead; its user notices nothing.
"""

import copy
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections
from django.http import FileResponse

logger = logging.getLogger(__name__)

PRIMARY = "default"
REPLICA_PREFIX = "replica_"
POSTGRESQL = "django.db.backends.postgresql"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: How long a replica that did not answer is left alone before it is tried again.
REPLICA_SKIP_SECONDS = 30
#: A replica host that does not answer at all costs a request at most this long.
REPLICA_CONNECT_TIMEOUT_S = 2
#: After a request that wrote, the same browser reads from the primary this
#: long (a cookie): the page the admin redirects to after "Save", or the list
#: the app fetches right after a POST, must show the change, however far a
#: replica lags. Clients without cookies (scripts, gateways) get no such pin.
PRIMARY_AFTER_WRITE_S = 10
PRIMARY_AFTER_WRITE_COOKIE = "managair_read_primary"
#: Credentials a client has just been given (a session, a token) must work in
#: its very next request, before a lagging replica has them.
PRIMARY_ONLY_APPS = frozenset({"sessions", "authtoken"})


# --- Configuration -----------------------------------------------------------------------


def replica_databases(primary: dict, hosts: str) -> dict[str, dict]:
    """``DATABASES`` entries for the replicas in ``hosts`` (``SQL_REPLICA_HOSTS``):
    the primary's settings with another host and port."""
    addresses = [_address(entry.strip()) for entry in hosts.split(",") if entry.strip()]
    if addresses and primary.get("ENGINE") != POSTGRESQL:
        raise ImproperlyConfigured(
            f"SQL_REPLICA_HOSTS needs PostgreSQL (SQL_ENGINE={POSTGRESQL}); streaming replicas are PostgreSQL's."
        )
    databases = {}
    for number, (host, port) in enumerate(addresses, start=1):
        replica = copy.deepcopy(primary)
        replica.update(
            HOST=host,
            PORT=port,
            # Is the pooled connection still alive? Asked before a request's
            # first query, so that a replica gone away is noticed in time to
            # read from the primary instead.
            CONN_HEALTH_CHECKS=True,
            OPTIONS={**primary.get("OPTIONS", {}), "connect_timeout": REPLICA_CONNECT_TIMEOUT_S},
            # Tests have one database; reads "from a replica" read it too.
            TEST={"MIRROR": PRIMARY},
        )
        databases[f"{REPLICA_PREFIX}{number}"] = replica
    return databases


def _address(entry: str) -> tuple[str, str]:
    host, colon, port = entry.rpartition(":")
    if host.startswith("[") and host.endswith("]"):  # [2001:db8::5]:5432
        host = host[1:-1]
    if not colon or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ImproperlyConfigured(
            f"SQL_REPLICA_HOSTS lists replicas as host:port separated by commas "
            f"(e.g. db-replica-1:5432,db-replica-2:5432); {entry!r} is not host:port."
        )
    return host, str(int(port))


def replica_aliases() -> list[str]:
    return [alias for alias in settings.DATABASES if alias.startswith(REPLICA_PREFIX)]


# --- Health ------------------------------------------------------------------------------


def is_skipped(failed_at: float | None, now: float) -> bool:
    """Whether a replica that last failed at ``failed_at`` (monotonic seconds;
    None: never) is still left alone at ``now``."""
    return failed_at is not None and now - failed_at < REPLICA_SKIP_SECONDS


def connects(alias: str) -> bool:
    """Whether ``alias`` has a working connection, opening one if needed.

    A pooled connection to a replica that has since stopped is found out here
    (Django's health check, done now instead of at the first query) and
    replaced; if that fails, the connection is closed, so that the next try
    starts afresh."""
    connection = connections[alias]
    try:
        connection.close_if_health_check_failed()
        connection.ensure_connection()
    except DatabaseError as error:
        logger.warning(
            "Read replica %s (%s:%s) does not answer, reading from the primary for %s s: %s",
            alias, connection.settings_dict["HOST"], connection.settings_dict["PORT"], REPLICA_SKIP_SECONDS,
            str(error).strip(),
        )  # fmt: skip
        with suppress(DatabaseError):
            connection.close()
        return False
    return True


# --- Requests ----------------------------------------------------------------------------


@dataclass
class RequestState:
    """What routing needs to know about the request being served."""

    safe: bool
    wrote: bool = False
    #: The client wrote moments ago (the cookie of ``PRIMARY_AFTER_WRITE_S``).
    wrote_recently: bool = False
    #: The database its reads go to, once chosen (a replica, or the primary if none answered).
    chosen: str | None = None

    @property
    def may_read_replica(self) -> bool:
        return self.safe and not self.wrote and not self.wrote_recently


#: The request served on this thread or task; None outside requests.
current_request: ContextVar[RequestState | None] = ContextVar("replica_current_request", default=None)


class ReplicaRouter:
    """Reads of safe requests from a replica, all else from the primary (see the module's docstring).

    Django makes one router per process; ``replicas`` and ``reachable`` are for tests."""

    def __init__(self, replicas: list[str] | None = None, reachable: Callable[[str], bool] = connects):
        self.replicas = list(replica_aliases() if replicas is None else replicas)
        self.reachable = reachable
        self.failed_at: dict[str, float] = {}
        self._turns = itertools.count()

    def db_for_read(self, model, **hints) -> str:
        state = current_request.get()
        if state is None or not state.may_read_replica or model._meta.app_label in PRIMARY_ONLY_APPS:
            return PRIMARY
        # Reads in a transaction on the primary belong to it: they must see what it wrote.
        if connections[PRIMARY].in_atomic_block:
            return PRIMARY
        if state.chosen is None:
            state.chosen = self.choose()
        return state.chosen

    def db_for_write(self, model, **hints) -> str:
        state = current_request.get()
        if state is not None:
            state.wrote = True
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        ours = {PRIMARY, *self.replicas}
        if obj1._state.db in ours and obj2._state.db in ours:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool:
        # Replicas replay the primary's schema; they cannot be written to.
        return db == PRIMARY

    def choose(self) -> str:
        """A replica that answers, in turn among those not skipped; else the primary."""
        now = time.monotonic()
        candidates = [alias for alias in self.replicas if not is_skipped(self.failed_at.get(alias), now)]
        if not candidates:
            return PRIMARY
        first = next(self._turns)
        for offset in range(len(candidates)):
            alias = candidates[(first + offset) % len(candidates)]
            if self.reachable(alias):
                self.failed_at.pop(alias, None)
                return alias
            self.failed_at[alias] = now
        return PRIMARY


class ReplicaMiddleware:
    """Tells ``ReplicaRouter`` which request it is routing for (sync and async)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        state = _state_of(request)
        token = current_request.set(state)
        try:
            response = self.get_response(request)
        finally:
            current_request.reset(token)
        return _routed_while_streaming(_pinned_after_write(response, state), state)

    async def _acall(self, request):
        state = _state_of(request)
        token = current_request.set(state)
        try:
            response = await self.get_response(request)
        finally:
            current_request.reset(token)
        return _routed_while_streaming(_pinned_after_write(response, state), state)


def _state_of(request) -> RequestState:
    return RequestState(
        safe=request.method in SAFE_METHODS, wrote_recently=PRIMARY_AFTER_WRITE_COOKIE in request.COOKIES
    )


def _pinned_after_write(response, state: RequestState):
    # Only where replicas exist: without them there is nothing to pin.
    if state.wrote and replica_aliases():
        response.set_cookie(
            PRIMARY_AFTER_WRITE_COOKIE, "1", max_age=PRIMARY_AFTER_WRITE_S, httponly=True, samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
        )  # fmt: skip
    return response


def _routed_while_streaming(response, state: RequestState):
    """A streamed answer (a CSV time series) reads while the server sends it,
    after the middleware has returned: route those reads as the request's."""
    if not response.streaming or isinstance(response, FileResponse) or not state.may_read_replica:
        return response
    if response.is_async:
        response.streaming_content = _async_chunks_within(state, response.streaming_content)
    else:
        response.streaming_content = _chunks_within(state, response.streaming_content)
    return response


def _chunks_within(state: RequestState, chunks) -> Iterator:
    # Set only while a chunk is made: between chunks the server's own code runs.
    iterator = iter(chunks)
    while True:
        token = current_request.set(state)
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        finally:
            current_request.reset(token)
        yield chunk


async def _async_chunks_within(state: RequestState, chunks) -> AsyncIterator:
    iterator = aiter(chunks)
    while True:
        token = current_request.set(state)
        try:
            chunk = await anext(iterator)
        except StopAsyncIteration:
            return
        finally:
            current_request.reset(token)
        yield chunk
