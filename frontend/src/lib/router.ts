// A few routes, in the address bar: `/` (sessions), `/s/SESSION` (a session, `#msg_ID`
// scrolls to a message), `/search?q=…`. Unknown paths get index.html from the relay, so a
// reload or a shared link opens the same view.

import { createSignal } from "solid-js";

export interface Route {
  name: "home" | "session" | "search" | "login";
  session?: string;
  /** The message to scroll to (`#msg_…`). */
  message?: string;
  query?: string;
}

export function parse(path: string, hash: string, search: string): Route {
  const m = /^\/s\/([^/]+)\/?$/.exec(path);
  if (m) {
    const message =
      hash.startsWith("#") && hash.length > 1 ? decodeURIComponent(hash.slice(1)) : undefined;
    return { name: "session", session: decodeURIComponent(m[1]), ...(message ? { message } : {}) };
  }
  if (path === "/login") return { name: "login" };
  if (path === "/search") {
    const q = new URLSearchParams(search).get("q") ?? "";
    return { name: "search", query: q };
  }
  return { name: "home" };
}

export function href(r: Route): string {
  if (r.name === "session" && r.session) {
    return `/s/${encodeURIComponent(r.session)}${r.message ? `#${encodeURIComponent(r.message)}` : ""}`;
  }
  if (r.name === "login") return "/login";
  if (r.name === "search") return `/search${r.query ? `?q=${encodeURIComponent(r.query)}` : ""}`;
  return "/";
}

const here = (): Route =>
  typeof location === "undefined"
    ? { name: "home" }
    : parse(location.pathname, location.hash, location.search);
const [route, setRoute] = createSignal<Route>(here(), {
  equals: (a, b) => href(a) === href(b),
});

if (typeof window !== "undefined") {
  window.addEventListener("popstate", () => setRoute(here()));
  window.addEventListener("hashchange", () => setRoute(here()));
}

export { route };

export function navigate(r: Route, replace = false) {
  const url = href(r);
  if (replace) history.replaceState(null, "", url);
  else if (url !== location.pathname + location.search + location.hash)
    history.pushState(null, "", url);
  setRoute(r);
}
