// The login page: posts the credentials, then goes where the visitor was heading.
const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

function target() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  // Only paths of this server: never an open redirect to another site. Resolve it as the browser
  // would ("/\evil.example" is "//evil.example" to a browser) and keep it only if it stays here.
  if (!next.startsWith("/")) return "/";
  try {
    const url = new URL(next, location.origin);
    return url.origin === location.origin ? url.pathname + url.search + url.hash : "/";
  } catch {
    return "/";
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  const body = JSON.stringify({
    name: document.getElementById("name").value,
    password: document.getElementById("password").value,
  });
  const r = await fetch("/api/login", { method: "POST", headers: { "Content-Type": "application/json" }, body });
  if (r.ok) {
    const me = await r.json();
    location.assign(me.role === "admin" ? "/admin" : me.role === "reviewer" ? "/sessions" : target());
    return;
  }
  const detail = (await r.json().catch(() => ({}))).detail;
  error.textContent = r.status === 429 ? detail : r.status === 401 ? "Wrong name or password." : `Login failed: ${detail || r.status}`;
  error.hidden = false;
});
