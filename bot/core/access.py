"""Who may use the bot. Empty allowlists mean everyone; admins are always allowed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    allowed_user_ids: frozenset[int] = frozenset()
    allowed_chat_ids: frozenset[int] = frozenset()
    admin_user_ids: frozenset[int] = frozenset()

    @property
    def restricted(self) -> bool:
        return bool(self.allowed_user_ids or self.allowed_chat_ids)

    def allows(self, user_id: int | None, chat_id: int) -> bool:
        if not self.restricted:
            return True
        if user_id is not None and (user_id in self.allowed_user_ids or user_id in self.admin_user_ids):
            return True
        return chat_id in self.allowed_chat_ids

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.admin_user_ids
