import { render } from "solid-js/web";
import { Conn, wsUrl } from "./lib/conn";
import { Store } from "./lib/store";
import { applyTheme } from "./lib/theme";
import { App } from "./ui/app";
import "./styles.css";

applyTheme();
const conn = new Conn({ url: wsUrl(location), client: "oqto-web/0.1.0" });
const store = new Store(conn);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") conn.visible();
});
window.addEventListener("online", () => conn.visible());
store.start();
// For the browser tests and for debugging from the console: read-only views of the state.
(window as unknown as { oqto: unknown }).oqto = { store, conn };
const root = document.getElementById("app");
if (root) render(() => <App store={store} />, root);
