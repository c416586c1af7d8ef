// REST calls with the session cookie and Django's CSRF token.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.detail || firstFieldError(body))) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.body = body;
  }
}

function firstFieldError(body) {
  if (!body || typeof body !== "object") return null;
  for (const value of Object.values(body)) {
    if (Array.isArray(value) && value.length) return String(value[0]);
  }
  return null;
}

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  const response = await fetch(path, init);
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
