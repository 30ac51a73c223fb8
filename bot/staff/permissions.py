"""Who may do what: the one roles matrix, used by the console and by every channel."""

from __future__ import annotations

import enum

from bot.db.models import StaffRole


class Permission(str, enum.Enum):
    """Something a staff user may be allowed to do."""

    VIEW_QUEUE = "view_queue"
    VIEW_CONVERSATION = "view_conversation"
    VIEW_CONTACT = "view_contact"
    ACT_ON_ESCALATIONS = "act_on_escalations"
    VIEW_PARTICIPANTS = "view_participants"
    ENROLL = "enroll"
    MANAGE_USERS = "manage_users"
    VIEW_AUDIT_LOG = "view_audit_log"
    VIEW_FIGURES = "view_figures"
    REVIEW_LOGS = "review_logs"
    LABEL_NLU = "label_nlu"
    EXPORT_DATA = "export_data"
    EXPORT_MESSAGE_TEXT = "export_message_text"
    MANAGE_LEDGER = "manage_ledger"


_EVERYONE = {
    Permission.VIEW_QUEUE,
    Permission.VIEW_CONVERSATION,
    Permission.VIEW_PARTICIPANTS,
    Permission.VIEW_FIGURES,
}
_CARE_TEAM = _EVERYONE | {
    Permission.VIEW_CONTACT,
    Permission.ACT_ON_ESCALATIONS,
    Permission.ENROLL,
    Permission.MANAGE_LEDGER,
}
_RESEARCH = {Permission.REVIEW_LOGS, Permission.LABEL_NLU, Permission.EXPORT_DATA}

# Researchers review, label and export (de-identified); staff act on escalations and pay
# incentives but do not export; admins do everything, and only they may export message
# text (masked).
ROLE_PERMISSIONS: dict[StaffRole, frozenset[Permission]] = {
    StaffRole.RESEARCHER: frozenset(_EVERYONE | _RESEARCH),
    StaffRole.STAFF: frozenset(_CARE_TEAM),
    StaffRole.ADMIN: frozenset(
        _CARE_TEAM
        | _RESEARCH
        | {
            Permission.MANAGE_USERS,
            Permission.VIEW_AUDIT_LOG,
            Permission.EXPORT_MESSAGE_TEXT,
        }
    ),
}


class NotAllowed(PermissionError):
    """The user's role does not allow this action."""


def allows(role: StaffRole, permission: Permission) -> bool:
    """True when the role has the permission."""
    return permission in ROLE_PERMISSIONS[role]
