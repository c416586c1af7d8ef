// The invite page: shows the group an invite leads to and joins it.

import { api } from "./api.js";

const code = document.body.dataset.inviteCode;
const text = document.getElementById("invite-text");
const join = document.getElementById("invite-join");

async function show() {
  try {
    const invite = await api("GET", `/api/invites/${encodeURIComponent(code)}/`);
    document.getElementById("invite-title").textContent = invite.group.name;
    const members = `${invite.group.member_count} member${invite.group.member_count === 1 ? "" : "s"}`;
    text.textContent = invite.member
      ? `You are already a member of ${invite.group.name} (${members}).`
      : `You are invited to join ${invite.group.name} (${members}).`;
    join.textContent = invite.member ? "Open the group" : `Join ${invite.group.name}`;
    join.hidden = false;
  } catch (error) {
    text.textContent =
      error.status === 410 ? "This invite has expired or has been used up." : "This invite link is not valid (it may have been revoked).";
  }
}

join.addEventListener("click", async () => {
  join.disabled = true;
  try {
    await api("POST", `/api/invites/${encodeURIComponent(code)}/accept/`);
    location.assign("/");
  } catch (error) {
    join.disabled = false;
    text.textContent = error.status === 410 ? "This invite has expired or has been used up." : error.message;
  }
});

show();
