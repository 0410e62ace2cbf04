"""Who may approve and revoke a DataGrant (the validating webhook's rules).

- Approving (spec.approved false -> true) and revoking (spec.revoked false -> true) need
  membership in the steward group.
- Nobody approves a grant they requested themselves: the requester is the identity the webhook
  stamped at creation (voxgate.io/requested-by), never a field a user can write. Creating a grant
  that is already approved is therefore always self-approval.
- Withdrawing an approval (true -> false) narrows access and is left to RBAC: it is the
  documented way to widen a grant before a steward approves it again.
"""

from __future__ import annotations

from voxgate.admission.identity import REQUESTED_BY, Identity
from voxgate.admission.stamps import ObjectChange


def grant_refusal(change: ObjectChange, steward_group: str) -> str | None:
    """Why this change to a DataGrant is refused, in one line; None when it is allowed."""
    if change.operation not in ("CREATE", "UPDATE"):
        return None
    problems: list[str] = []
    user = change.user
    was_approved, approved = change.flag("approved")
    was_revoked, revoked = change.flag("revoked")
    approving, revoking = approved and not was_approved, revoked and not was_revoked
    acts = [verb for verb, doing in (("approve", approving), ("revoke", revoking)) if doing]
    if acts and not user.in_group(steward_group):
        problems.append(
            f"only members of the steward group {steward_group!r} may {' or '.join(acts)} a "
            f"DataGrant, and {user.username!r} is not one"
        )
    if approving:
        problems.extend(_self_approval(change))
    return "; ".join(problems) or None


def _self_approval(change: ObjectChange) -> list[str]:
    user = change.user
    if change.operation == "CREATE":
        return [
            f"{user.username!r} cannot create a DataGrant that is already approved: the requester "
            "may not approve their own grant; create it with approved: false and ask another "
            "data steward to approve it"
        ]
    requester = Identity.from_annotation(change.old, REQUESTED_BY)
    if requester is None:
        return [
            f"the grant has no recorded requester ({REQUESTED_BY}; it predates the admission "
            "webhook), so the two-person rule cannot be checked; create a new grant"
        ]
    if requester.username == user.username:
        return [
            f"{user.username!r} requested this grant and may not approve it; another data "
            "steward must approve it"
        ]
    return []
