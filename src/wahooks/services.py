"""The Services bundle: what the composition root built, handed to the API's routes.

Routes reach the domain through these objects only; `wahooks.app` wires them from the settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from wahooks.accounts import Accounts
from wahooks.config import Settings
from wahooks.connections import ConnectionService
from wahooks.delivery.dispatcher import Dispatcher
from wahooks.delivery.retention import Retention
from wahooks.delivery.sender import Sender
from wahooks.delivery.targets import TargetPolicy
from wahooks.engines.base import Engine
from wahooks.ingest import Ingest
from wahooks.messaging import MessagingService
from wahooks.metrics import Metrics
from wahooks.storage import Storage
from wahooks.webhooks import WebhookService


@dataclass
class Services:
    settings: Settings
    storage: Storage
    engine: Engine
    accounts: Accounts
    connections: ConnectionService
    webhooks: WebhookService
    targets: TargetPolicy
    sender: Sender
    dispatcher: Dispatcher
    ingest: Ingest
    retention: Retention
    messaging: MessagingService
    metrics: Metrics
