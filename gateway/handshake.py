"""The handshake's reads, two database hops in all (each hop costs a thread hand-off and a
pooled connection's check): one before the socket subscribes to its conversations, one after
(a message committed after the second hop's reads is then fanned out to the socket)."""

from dataclasses import dataclass

from accounts.events import UserCard
from accounts.selectors import ready_users, socket_refusal
from core.close_codes import Close
from messaging.ready import ReadyConversations, ready_conversations
from messaging.selectors import conversation_ids_for_user


@dataclass(frozen=True, slots=True)
class Admission:
    refusal: str | None  # "banned" or "revoked": close the socket
    conversation_ids: list[int]

    @property
    def close_code(self) -> int:
        """The close code of a refused socket."""
        return Close.FORBIDDEN if self.refusal == "banned" else Close.UNAUTHORIZED


def handshake_admit(*, user_id: int, token_generation: int, session_id: str | None) -> Admission:
    """Whether the socket may stay (socket_refusal), and the conversations to subscribe to."""
    refusal = socket_refusal(
        user_id=user_id, token_generation=token_generation, session_id=session_id
    )
    if refusal is not None:
        return Admission(refusal=refusal, conversation_ids=[])
    return Admission(refusal=None, conversation_ids=conversation_ids_for_user(user_id=user_id))


def handshake_ready(
    *, user_id: int, since: str | None, admission: Admission
) -> tuple[ReadyConversations, list[UserCard]]:
    """What `ready` carries: the conversations (messaging.ready) and the user cards. A user in
    no conversation when admitted (a new account, most bots) skips the summaries' query, the
    handshake's most expensive to build; a conversation joined since then reaches the socket
    as a live `conversation` event, its user channel being joined before the admission."""
    if not admission.conversation_ids and since is None:
        listed = ReadyConversations(summaries=[], positions={})
    else:
        listed = ready_conversations(user_id=user_id, since=since)
    return listed, ready_users(user_id=user_id)
