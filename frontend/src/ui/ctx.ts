import { createContext, useContext } from "solid-js";
import type { Store } from "../lib/store";

export const StoreCtx = createContext<Store>();
export function useStore(): Store {
  const s = useContext(StoreCtx);
  if (!s) throw new Error("no store");
  return s;
}

/** "3 min ago" and the like. */
export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(ms).toLocaleDateString();
}

/** The last path component of a directory, for a short label. */
export function base(dir: string): string {
  const parts = dir.split("/").filter(Boolean);
  return parts.at(-1) ?? "/";
}

/** True while focus is in a text field (shortcuts without modifiers stay out of the way). */
export function typing(ev: KeyboardEvent): boolean {
  const t = ev.target as HTMLElement | null;
  if (!t) return false;
  return (
    t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName) || !!t.closest(".cm-editor")
  );
}
