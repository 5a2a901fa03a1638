import { createSignal, type JSX } from "solid-js";
import type { LoginError, LoginOk, LoginRequest } from "../protocol/protocol";

/** The password login (`POST /login`, docs/relay.md); a login link needs no form. */
export function LoginView(): JSX.Element {
  const [name, setName] = createSignal("");
  const [password, setPassword] = createSignal("");
  const [error, setError] = createSignal("");
  const [busy, setBusy] = createSignal(false);

  const submit = async (e: SubmitEvent) => {
    e.preventDefault();
    setError("");
    setBusy(true);
    try {
      const body: LoginRequest = { name: name(), password: password() };
      const r = await fetch("/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        credentials: "same-origin",
      });
      if (r.ok) {
        (await r.json()) as LoginOk;
        // A fresh page: the socket opens with the new cookie.
        location.assign("/");
        return;
      }
      const err = (await r.json().catch(() => null)) as LoginError | null;
      if (err?.error === "rate_limited") {
        setError(`Too many attempts: try again in ${err.retry_after ?? "a few"} seconds.`);
      } else if (err?.error === "invalid_credentials") {
        setError("Wrong name or password.");
      } else {
        setError(err?.message ?? `Login failed (HTTP ${r.status}).`);
      }
    } catch (err) {
      setError(`Login failed: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="login" aria-label="Log in">
      <h1>Log in to Oqto</h1>
      <form class="form" onSubmit={submit}>
        <label>
          Name
          <input
            name="name"
            autocomplete="username"
            required
            value={name()}
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autocomplete="current-password"
            required
            value={password()}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        <p class="error" role="alert">
          {error()}
        </p>
        <div class="form-actions">
          <button type="submit" class="primary" disabled={busy()}>
            {busy() ? "Logging in…" : "Log in"}
          </button>
        </div>
      </form>
      <p class="muted small">
        Or open a login link: <code>oqtoctl web</code> prints one. A password is set with{" "}
        <code>oqtoctl password</code>.
      </p>
    </section>
  );
}
