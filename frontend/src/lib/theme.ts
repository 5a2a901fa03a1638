// Dark and light follow the system unless the user picked one (kept in localStorage).

import { createSignal } from "solid-js";

export type ThemeChoice = "system" | "light" | "dark";
const KEY = "oqto.theme";

function load(): ThemeChoice {
  const v = globalThis.localStorage?.getItem(KEY);
  return v === "light" || v === "dark" ? v : "system";
}

const [theme, setThemeSig] = createSignal<ThemeChoice>(load());

export { theme };

export function applyTheme(t: ThemeChoice = theme()) {
  const root = document.documentElement;
  if (t === "system") delete root.dataset.theme;
  else root.dataset.theme = t;
}

export function setTheme(t: ThemeChoice) {
  setThemeSig(t);
  if (t === "system") localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, t);
  applyTheme(t);
}

/** system -> the opposite of what the system shows -> the other -> system. */
export function cycleTheme() {
  const dark = matchMedia("(prefers-color-scheme: dark)").matches;
  const t = theme();
  if (t === "system") setTheme(dark ? "light" : "dark");
  else if ((t === "dark") === dark) setTheme("system");
  else setTheme(t === "dark" ? "light" : "dark");
}

export function effectiveTheme(): "light" | "dark" {
  const t = theme();
  if (t !== "system") return t;
  return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}
