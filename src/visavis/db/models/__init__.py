"""Every table, importable from one place (Alembic's metadata, repositories)."""

from visavis.db.models.analytics import (
    AnalyticsEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from visavis.db.models.avatar_sessions import AvatarSession, AvatarSessionEvent
from visavis.db.models.conversation_events import ConversationEvent, ConversationTurn
from visavis.db.models.conversations import Conversation, TranscriptEntry
from visavis.db.models.flags import FeatureFlag, FeatureFlagChange, FeatureFlagTenant
from visavis.db.models.interview_plans import InterviewPlanRow
from visavis.db.models.leases import ConversationLease
from visavis.db.models.tenants import ApiKey, Tenant, TenantPreferences
from visavis.db.models.twins import MemoryItem, MemoryQuery, Twin
from visavis.db.models.usage import QuotaReservation, UsageMonth
from visavis.db.models.voices import VoiceConsent, VoiceProfile, VoiceSample

__all__ = [
    "ApiKey",
    "AvatarSession",
    "AvatarSessionEvent",
    "Conversation",
    "ConversationLease",
    "InterviewPlanRow",
    "ConversationEvent",
    "ConversationTurn",
    "FeatureFlag",
    "FeatureFlagChange",
    "FeatureFlagTenant",
    "QuotaReservation",
    "Tenant",
    "TenantPreferences",
    "TranscriptEntry",
    "UsageMonth",
    "MemoryItem",
    "MemoryQuery",
    "Twin",
    "VoiceConsent",
    "VoiceProfile",
    "VoiceSample",
    "AnalyticsEvent",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
