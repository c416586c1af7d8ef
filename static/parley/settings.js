// The settings page: profile, avatar, password, log out everywhere. Talks to the REST API with
// the session cookie (api.js); user text only ever becomes text nodes or form values.

import { api, ApiError } from "./api.js";
import { avatarOf } from "./people.js";
import { el } from "./render.js";

const $ = (id) => document.getElementById(id);

function say(id, text, ok = true) {
  const node = $(id);
  node.textContent = text;
  node.dataset.ok = ok ? "1" : "0";
}

function errorText(error) {
  if (error instanceof ApiError && error.body && error.body.detail) return error.body.detail;
  return error.message || "Something went wrong";
}

function localInputValue(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function show(profile) {
  $("display-name").value = profile.display_name;
  $("status-emoji").value = profile.status_emoji;
  $("status-text").value = profile.status_text;
  $("status-expires").value = localInputValue(profile.status_expires_at);
  $("timezone").value = profile.timezone;
  $("avatar-preview").replaceChildren(avatarOf(profile, { size: "large", cls: "avatar avatar-large" }));
  $("avatar-remove").hidden = !profile.avatar_url;
}

function fillTimezones() {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  const list = $("timezones");
  for (const zone of ["UTC", ...zones]) list.append(new Option(zone));
}

async function saveProfile(event) {
  event.preventDefault();
  const expires = $("status-expires").value;
  try {
    const profile = await api("PATCH", "/api/me/profile/", {
      display_name: $("display-name").value.trim() || null,
      status_emoji: $("status-emoji").value,
      status_text: $("status-text").value,
      status_expires_at: expires ? new Date(expires).toISOString() : null,
      timezone: $("timezone").value.trim() || "UTC",
    });
    show(profile);
    say("profile-note", "Profile saved");
  } catch (error) {
    say("profile-note", errorText(error), false);
  }
}

async function uploadAvatar() {
  const file = $("avatar-file").files[0];
  if (!file) return;
  try {
    const response = await fetch("/api/me/avatar/", {
      method: "PUT",
      credentials: "same-origin",
      headers: {
        "Content-Type": file.type || "application/octet-stream",
        "X-CSRFToken": document.querySelector('meta[name="csrf-token"]').content,
        Accept: "application/json",
      },
      body: file,
    });
    const data = await response.json();
    if (!response.ok) throw new ApiError(response.status, data);
    show(data);
    say("avatar-note", "Picture updated");
  } catch (error) {
    say("avatar-note", errorText(error), false);
  }
  $("avatar-file").value = "";
}

async function removeAvatar() {
  try {
    show(await api("DELETE", "/api/me/avatar/"));
    say("avatar-note", "Picture removed");
  } catch (error) {
    say("avatar-note", errorText(error), false);
  }
}

function showEmail(state) {
  $("email").value = state.email;
  $("email-state").textContent = !state.email
    ? "No address: you cannot reset a forgotten password."
    : state.email_verified
      ? "Confirmed."
      : "Not confirmed yet: open the link we mailed you.";
}

async function saveEmail(event) {
  event.preventDefault();
  try {
    showEmail(await api("PUT", "/api/me/email/", { email: $("email").value }));
    say("email-note", "Address saved");
  } catch (error) {
    say("email-note", errorText(error), false);
  }
}

function showPrefs(prefs) {
  $("dnd-until").value = localInputValue(prefs.do_not_disturb_until);
  $("quiet-start").value = (prefs.quiet_hours_start || "").slice(0, 5);
  $("quiet-end").value = (prefs.quiet_hours_end || "").slice(0, 5);
  $("email-notifications").checked = prefs.email_notifications;
}

async function savePrefs(event) {
  event.preventDefault();
  const until = $("dnd-until").value;
  try {
    showPrefs(
      await api("PATCH", "/api/me/notifications/", {
        do_not_disturb_until: until ? new Date(until).toISOString() : null,
        quiet_hours_start: $("quiet-start").value || null,
        quiet_hours_end: $("quiet-end").value || null,
        email_notifications: $("email-notifications").checked,
      }),
    );
    say("notify-note", "Notifications saved");
  } catch (error) {
    say("notify-note", errorText(error), false);
  }
}

const LEVELS = { all: "All messages", mentions: "Mentions and direct messages", none: "Nothing" };

async function showLevels() {
  const list = await api("GET", "/api/conversations/");
  const conversations = (Array.isArray(list) ? list : list.results || []).slice(0, 50);
  const rows = await Promise.all(
    conversations.map(async (conv) => {
      const membership = await api("GET", `/api/conversations/${conv.id}/membership/`);
      const id = `notify-${conv.id}`;
      const select = el("select", { id });
      for (const [value, label] of Object.entries(LEVELS)) {
        select.append(new Option(label, value, false, membership.notify === value));
      }
      select.addEventListener("change", async () => {
        try {
          await api("PATCH", `/api/conversations/${conv.id}/membership/`, { notify: select.value });
          say("notify-note", `Saved for ${conv.title}`);
        } catch (error) {
          say("notify-note", errorText(error), false);
        }
      });
      return el("li", {}, el("label", { for: id }, conv.title), " ", select);
    }),
  );
  $("notify-levels").replaceChildren(...rows);
}

// Whether the code form turns two-factor login off (it is on) or confirms a new setup is the
// form's own state, in `data-enabled`.
function showTwofactor(state) {
  $("twofactor-form").dataset.enabled = state.enabled ? "1" : "";
  $("twofactor-state").textContent = state.enabled
    ? `On. ${state.recovery_codes_left} recovery codes left.`
    : "Off: a password alone logs you in.";
  $("twofactor-start").hidden = state.enabled;
  $("twofactor-form").hidden = !state.enabled;
  $("twofactor-setup").hidden = true;
  $("twofactor-code-label").textContent = state.enabled ? "Code (or a recovery code) to turn it off" : "Code from the app";
  $("twofactor-submit").textContent = state.enabled ? "Turn off" : "Confirm";
}

async function startTwofactor() {
  try {
    const setup = await api("POST", "/api/auth/2fa/setup/");
    $("twofactor-secret").textContent = setup.secret;
    $("twofactor-qr").src = setup.qr_svg;
    $("twofactor-setup").hidden = false;
    $("twofactor-form").hidden = false;
    $("twofactor-start").hidden = true;
  } catch (error) {
    say("twofactor-note", errorText(error), false);
  }
}

async function submitTwofactor(event) {
  event.preventDefault();
  const code = $("twofactor-code").value.trim();
  try {
    if ($("twofactor-form").dataset.enabled) {
      await api("POST", "/api/auth/2fa/disable/", { code });
      say("twofactor-note", "Two-factor login is off");
    } else {
      const answer = await api("POST", "/api/auth/2fa/confirm/", { code });
      $("twofactor-code-list").replaceChildren(...answer.recovery_codes.map((c) => el("li", {}, c)));
      $("twofactor-codes").hidden = false;
      say("twofactor-note", "Two-factor login is on");
    }
    $("twofactor-code").value = "";
    showTwofactor(await api("GET", "/api/auth/2fa/"));
  await showSessions();
  } catch (error) {
    say("twofactor-note", errorText(error), false);
  }
}

async function showSessions() {
  const sessions = await api("GET", "/api/me/sessions/");
  const rows = sessions.map((session) => {
    const started = session.started_at ? new Date(session.started_at).toLocaleString() : "?";
    const used = session.last_refreshed_at ? new Date(session.last_refreshed_at).toLocaleString() : "?";
    const end = el("button", { type: "button", class: "link" }, "Log out");
    end.addEventListener("click", async () => {
      await api("DELETE", `/api/me/sessions/${session.id}/`);
      await showSessions();
    });
    return el("li", {}, `Logged in ${started}, last active ${used}${session.current ? " (this one)" : ""} `, end);
  });
  $("session-list").replaceChildren(...(rows.length ? rows : [el("li", {}, "No app or device is logged in.")]));
}

async function changePassword(event) {
  event.preventDefault();
  try {
    await api("POST", "/api/auth/password/", {
      old_password: $("old-password").value,
      new_password: $("new-password").value,
    });
    // Every session ends with a password change, this one too: log in with the new one.
    location.assign("/login/?next=/settings/");
  } catch (error) {
    say("password-note", errorText(error), false);
  }
}

async function logOutEverywhere() {
  try {
    await api("POST", "/api/auth/logout/all/");
  } finally {
    location.assign("/login/");
  }
}

async function start() {
  fillTimezones();
  $("profile-form").addEventListener("submit", saveProfile);
  $("avatar-file").addEventListener("change", uploadAvatar);
  $("avatar-remove").addEventListener("click", removeAvatar);
  $("password-form").addEventListener("submit", changePassword);
  $("email-form").addEventListener("submit", saveEmail);
  $("notify-form").addEventListener("submit", savePrefs);
  $("twofactor-start").addEventListener("click", startTwofactor);
  $("twofactor-form").addEventListener("submit", submitTwofactor);
  $("logout-all").addEventListener("click", logOutEverywhere);
  show(await api("GET", "/api/me/profile/"));
  showEmail(await api("GET", "/api/me/email/"));
  showPrefs(await api("GET", "/api/me/notifications/"));
  showTwofactor(await api("GET", "/api/auth/2fa/"));
  await showSessions();
  await showLevels();
  document.body.dataset.loaded = "1";
}

start();
