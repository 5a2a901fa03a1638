import { defineConfig } from "vite";
import solid from "vite-plugin-solid";

// `npm run build` writes frontend/dist, which oqto-relay serves (debug builds read the
// folder at run time; release builds embed it). `npm run dev` proxies /ws and /login to a
// relay on 127.0.0.1:8420.
export default defineConfig({
  plugins: [solid()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 800,
  },
  server: {
    proxy: {
      "/ws": { target: "ws://127.0.0.1:8420", ws: true },
      "/login": "http://127.0.0.1:8420",
      "/logout": "http://127.0.0.1:8420",
    },
  },
});
